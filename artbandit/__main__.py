"""`python -m artbandit ...` is the `artbandit` console script."""

from artbandit.cli import main

if __name__ == "__main__":
    main()
