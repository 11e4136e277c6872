"""The engine interface: `Engine`, what a task gives (`TaskResult`), and `run_task`, which every
engine uses so a task's exception becomes a one-line error (contract: safeio.engine)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from safeio.errors import one_line


class EngineError(RuntimeError):
    """An engine that cannot start (Ray not installed, no cluster at the address): one line for users."""


@dataclass
class TaskResult:
    """What one task gave: `value` on success, or `error` (one line) if it raised."""

    index: int
    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def run_task(fn: Callable[[Any], Any], index: int, item: Any) -> TaskResult:
    """Run one task, turning any exception into a TaskResult error (used by every engine)."""
    try:
        return TaskResult(index, fn(item))
    except Exception as exc:  # noqa: BLE001 - a task's failure is data for the job, not a crash
        return TaskResult(index, error=one_line(exc, typed=True))


class Engine(ABC):
    """Runs `fn` over items; use as a context manager so workers are shut down."""

    name: str = "engine"
    workers: int = 1

    @abstractmethod
    def imap(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[TaskResult]:
        """Yield a TaskResult per item as tasks complete (see the module docstring)."""

    def close(self) -> None:
        """Release workers (idempotent)."""

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
