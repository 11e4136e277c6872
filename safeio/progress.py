"""The one progress protocol: libraries report, the application draws.

A long-running library call (extract, simulate, replay, the demo, catalogue jobs) takes an optional
`progress` callback and calls it as `progress(done, total, unit)`: `done` units finished so far,
`total` the number expected (None when unknown), `unit` what is counted ("frames", "impressions",
"events", "titles"). Libraries never draw anything themselves; the CLI turns the calls into a bar
(`artbandit.cli.common.progress_reporter`), a service or a notebook may log them, tests may record them.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Called with (done, total, unit); must be cheap, libraries call it at most a few times a second."""

    def __call__(self, done: int, total: int | None, unit: str) -> None: ...


def no_progress(done: int, total: int | None, unit: str) -> None:
    """The default callback: report nothing."""
