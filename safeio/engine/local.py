"""LocalEngine: the engine interface (safeio.engine) on a pool of local processes."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import threading
import time
from typing import Any, Callable, Generator, Iterator, Sequence

from safeio.engine.base import Engine, TaskResult, run_task


def _exit_with_parent(parent: int) -> None:
    """Pool-worker initializer: exit when the driver is gone (SIGKILL gives it no chance to stop
    its workers; orphans would otherwise wait forever). A title cut short leaves only a temporary
    folder named after this process, which the next run removes."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


class LocalEngine(Engine):
    """A pool of local processes (`workers=1`: in this process, no pool at all).

    A worker that dies (a crash in a native decoder, the OOM killer) breaks a process pool and with
    it every task in flight. The pool is then rebuilt and the unfinished tasks go on; the tasks
    that were running when it broke (each worker announces the task it starts) are rerun one at
    a time, alone, and one that kills its worker again fails with a one-line error: one bad item
    never takes the other items down.
    """

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self._pool: cf.ProcessPoolExecutor | None = None
        self._started: Any = None

    def _new_pool(self, workers: int) -> tuple[cf.ProcessPoolExecutor, Any]:
        # spawn, not fork: the driver may already hold decoder/OpenCV threads, which fork would
        # copy in a locked state. SimpleQueue: a put is written at once (no feeder thread), so a
        # worker's announcement survives its crash.
        ctx = multiprocessing.get_context("spawn")
        started = ctx.SimpleQueue()
        pool = cf.ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(os.getpid(), started)
        )
        return pool, started

    def imap(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[TaskResult]:
        if self.workers == 1 or len(items) <= 1:
            for index, item in enumerate(items):
                yield run_task(fn, index, item)
            return
        todo = list(range(len(items)))
        suspects: list[int] = []
        while todo:
            if self._pool is None:
                self._pool, self._started = self._new_pool(self.workers)
            done: set[int] = set()
            broken = yield from self._run(self._pool, fn, items, todo, done)
            if not broken:
                break
            running = _drain(self._started)
            self._drop_pool()
            crashed = [i for i in running if i not in done] or [i for i in todo if i not in done]
            suspects += crashed
            todo = [i for i in todo if i not in done and i not in crashed]
        for index in suspects:  # alone, each in a fresh one-process pool
            pool, _ = self._new_pool(1)
            try:
                if (yield from self._run(pool, fn, items, [index], set())):
                    yield TaskResult(
                        index,
                        error="the worker process died while running this task "
                        "(a crash in native code, or out of memory)",
                    )
            finally:
                pool.shutdown(wait=True, cancel_futures=True)

    @staticmethod
    def _run(
        pool: cf.ProcessPoolExecutor, fn: Callable[[Any], Any], items: Sequence[Any], indices: list[int], done: set[int]
    ) -> Generator[TaskResult, None, bool]:
        """Yield the results of `indices` on `pool`, recording them in `done`; returns True if the
        pool broke (the finished tasks' results are still yielded)."""
        futures = [pool.submit(_run_announced, fn, i, items[i]) for i in indices]
        try:
            for future in cf.as_completed(futures):
                try:
                    result = future.result()
                except cf.process.BrokenProcessPool:
                    for other in futures:  # results that were in before the break still count
                        if other.done() and not other.cancelled() and other.exception() is None:
                            result = other.result()
                            if result.index not in done:
                                done.add(result.index)
                                yield result
                    return True
                done.add(result.index)
                yield result
            return False
        finally:
            for future in futures:
                future.cancel()

    def _drop_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool, self._started = None, None

    def close(self) -> None:
        self._drop_pool()


_announce: Any = None  # in a pool worker: the queue it announces each task's index on


def _init_worker(parent: int, started: Any) -> None:
    global _announce
    _announce = started
    _exit_with_parent(parent)


def _run_announced(fn: Callable[[Any], Any], index: int, item: Any) -> TaskResult:
    if _announce is not None:
        _announce.put(index)
    return run_task(fn, index, item)


def _drain(queue: Any) -> list[int]:
    out = []
    while queue is not None and not queue.empty():
        out.append(queue.get())
    return out
