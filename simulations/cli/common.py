"""Pieces every artbandit subcommand shares: the --quiet/--json options, progress bars, errors."""
from __future__ import annotations

import sys
from typing import Iterable, TypeVar

import click

T = TypeVar("T")


def user_error_types() -> tuple[type[BaseException], ...]:
    """Exceptions that mean 'bad input', printed as one line by the CLI."""
    from bandit.errors import BanditError
    from imaging.errors import ImagingError
    from simulations.errors import SimulationError

    return (ImagingError, BanditError, SimulationError, OSError)


quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bar or chatter.")


def progress(
    iterable: Iterable[T] | None = None,
    *,
    length: int | None = None,
    label: str = "",
    quiet: bool = False,
):
    """A click progress bar on stderr; hidden with --quiet or when stderr is not a terminal."""
    hidden = quiet or not sys.stderr.isatty()
    return click.progressbar(
        iterable, length=length, label=label, file=sys.stderr, hidden=hidden, show_pos=True
    )


def say(message: str, quiet: bool = False) -> None:
    """Status chatter for people, on stderr so stdout stays machine-readable (--json)."""
    if not quiet:
        click.echo(message, err=True)
