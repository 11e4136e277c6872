"""One small interface for running independent tasks: a local process pool, or Ray.

Why an interface: catalogue builds, evaluations and multi-policy replays all map a function over a
list of items and gather small results; which machine runs the tasks is a deployment choice, not
part of the job. Every engine gives the same results for the same tasks (tasks must be deterministic
given their item).

Contract of `Engine.imap(fn, items)`:
- `fn` is a module-level function (picklable) taking one item; items are small (paths, specs),
  never frames or arrays: big data is read and written by the task itself.
- yields one `TaskResult` per item, in completion order, each with the item's index;
- an exception inside a task never escapes: it becomes `TaskResult.error`, a one-line message,
  and the other tasks go on.
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

ENGINES = ("local", "ray")


@dataclass
class TaskResult:
    """What one task gave: `value` on success, or `error` (one line) if it raised."""

    index: int
    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def one_line_error(exc: BaseException) -> str:
    """An exception as the one-line reason a job reports (type only when the message is empty)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def run_task(fn: Callable[[Any], Any], index: int, item: Any) -> TaskResult:
    """Run one task, turning any exception into a TaskResult error (used by every engine)."""
    try:
        return TaskResult(index, fn(item))
    except Exception as exc:  # noqa: BLE001 - a task's failure is data for the job, not a crash
        return TaskResult(index, error=one_line_error(exc))


def _exit_with_parent(parent: int) -> None:
    """Pool-worker initializer: exit when the driver is gone (SIGKILL gives it no chance to stop
    its workers; orphans would otherwise wait forever). A title cut short leaves only a temporary
    folder named after this process, which the next run removes."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


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


class LocalEngine(Engine):
    """A pool of local processes (`workers=1`: in this process, no pool at all)."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self._pool: cf.ProcessPoolExecutor | None = None

    def imap(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[TaskResult]:
        if self.workers == 1 or len(items) <= 1:
            for index, item in enumerate(items):
                yield run_task(fn, index, item)
            return
        if self._pool is None:
            # spawn, not fork: the driver may already hold decoder/OpenCV threads, which fork would
            # copy in a locked state
            self._pool = cf.ProcessPoolExecutor(max_workers=self.workers,
                                                mp_context=multiprocessing.get_context("spawn"),
                                                initializer=_exit_with_parent, initargs=(os.getpid(),))
        futures = [self._pool.submit(run_task, fn, i, item) for i, item in enumerate(items)]
        try:
            for future in cf.as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def make_engine(name: str = "local", *, workers: int | None = None, address: str | None = None,
                verbose: bool = False) -> Engine:
    """The engine called `name` ("local" or "ray"); Ray is imported only when asked for."""
    if name == "local":
        return LocalEngine(workers)
    if name == "ray":
        from artbandit.jobs.ray_engine import RayEngine  # optional extra: pip install 'artbandit[ray]'

        return RayEngine(workers=workers, address=address, verbose=verbose)
    raise ValueError(f"unknown engine {name!r} (choose from {', '.join(ENGINES)})")
