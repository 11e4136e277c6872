"""The one progress bar every long-running artbandit job shows (click's, on stderr).

Hidden with --quiet or when stderr is not a terminal, so logs and pipes stay clean. Lives outside
artbandit.cli so library code (the simulation runner) can show it without importing the CLI.
"""
from __future__ import annotations

import sys
from typing import Iterable, TypeVar

import click

T = TypeVar("T")


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
