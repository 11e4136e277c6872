"""Pieces every artbandit subcommand shares: the --quiet option, status chatter, user errors, and
the progress bar (the CLI draws what libraries report through safeio.progress)."""

from __future__ import annotations

import contextlib
import sys
from typing import Any, Iterable, Iterator, TypeVar

import click

from safeio.progress import Progress

T = TypeVar("T")


def user_error_types() -> tuple[type[BaseException], ...]:
    """Exceptions that mean 'bad input', printed as one line by the CLI."""
    from bandit.errors import BanditError
    from imaging.errors import ImagingError
    from safeio.errors import OutputFolderError
    from simulations.errors import SimulationError

    return (ImagingError, BanditError, SimulationError, OutputFolderError, OSError)


quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bar or chatter.")


def say(message: str, quiet: bool = False) -> None:
    """Status chatter for people, on stderr so stdout stays machine-readable (--json)."""
    if not quiet:
        click.echo(message, err=True)


def tell(message: str) -> None:
    """A failure's reason or a warning, on stderr even with --quiet: -q hides progress and chatter,
    never why a command failed (a quiet run that exits 1 must still say why)."""
    click.echo(message, err=True)


def _hidden(quiet: bool) -> bool:
    return quiet or not sys.stderr.isatty()


def progress_bar(
    iterable: Iterable[T] | None = None,
    *,
    length: int | None = None,
    label: str = "",
    quiet: bool = False,
):
    """A click progress bar on stderr; hidden with --quiet or when stderr is not a terminal."""
    return click.progressbar(
        iterable, length=length, label=label, file=sys.stderr, hidden=_hidden(quiet), show_pos=True
    )


class _ProtocolBar:
    """Draws `progress(done, total, unit)` reports: one bar per (unit, total), so a job with stages
    (frames, then images, then impressions, ...) shows one bar per stage."""

    def __init__(self, label: str, quiet: bool) -> None:
        self.label, self.quiet = label, quiet
        self._bar: Any = None  # click's progress bar while one is drawn
        self._key: tuple[str, int | None] | None = None
        self._done = 0

    def __call__(self, done: int, total: int | None, unit: str) -> None:
        if _hidden(self.quiet) or total is None:  # (an unknown total: nothing to draw a bar against)
            return
        if self._key != (unit, total):
            self.close()
            self._key, self._done = (unit, total), 0
            label = f"{self.label} ({unit})" if self.label else unit
            self._bar = click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True)
            self._bar.__enter__()
        if done > self._done:
            self._bar.update(done - self._done)
            self._done = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


@contextlib.contextmanager
def progress_reporter(label: str = "", quiet: bool = False) -> Iterator[Progress]:
    """A safeio.progress callback for a library call that draws a bar on stderr (none with --quiet
    or when stderr is not a terminal)."""
    bar = _ProtocolBar(label, quiet)
    try:
        yield bar
    finally:
        bar.close()
