"""Pieces every artbandit subcommand shares: the --quiet option, status chatter, user errors.

The progress bar is simulations.progress (library code shows it too)."""
from __future__ import annotations

import click


def user_error_types() -> tuple[type[BaseException], ...]:
    """Exceptions that mean 'bad input', printed as one line by the CLI."""
    from bandit.errors import BanditError
    from imaging.errors import ImagingError
    from simulations.errors import SimulationError

    return (ImagingError, BanditError, SimulationError, OSError)


quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bar or chatter.")


def say(message: str, quiet: bool = False) -> None:
    """Status chatter for people, on stderr so stdout stays machine-readable (--json)."""
    if not quiet:
        click.echo(message, err=True)
