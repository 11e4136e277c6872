"""RayEngine: the engine interface (safeio.engine) on Ray, a local Ray on this machine or an existing cluster.

Used the way video pipelines on Ray are: each item (a title, a policy) is one task with an explicit
`num_cpus=1`; the task reads and writes its own big data and returns a small result, so frames never
travel through the object store (it is kept small). Ray's own logging stays quiet unless verbose.

A Ray this engine started is shut down on close(); a Ray the caller had already started (a test
fixture, a notebook) is used as it is and left running.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Iterator, Sequence

from safeio.engine.base import Engine, EngineError, TaskResult, run_task
from safeio.errors import one_line

OBJECT_STORE_BYTES = 200 * 1024 * 1024  # results are small manifests; Ray's minimum is ~75 MB


class RayEngine(Engine):
    """Runs tasks on Ray: `ray.init(num_cpus=workers)` here, or `address=` of a running cluster."""

    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None, verbose: bool = False) -> None:
        try:
            import ray
        except ImportError:
            raise EngineError("the Ray engine needs Ray: pip install 'artbandit[ray]'") from None
        self._ray = ray
        self._owned = False
        self.address = address
        if not ray.is_initialized():
            os.environ.setdefault("RAY_DEDUP_LOGS", "0" if verbose else "1")
            kwargs: dict[str, Any] = dict(
                include_dashboard=False,
                log_to_driver=verbose,
                logging_level=logging.INFO if verbose else logging.ERROR,
                configure_logging=True,
            )
            try:
                if address:
                    ray.init(address=address, **kwargs)
                else:
                    ray.init(
                        num_cpus=max(1, workers or os.cpu_count() or 1),
                        object_store_memory=OBJECT_STORE_BYTES,
                        **kwargs,
                    )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise EngineError(
                    f"cannot start Ray{f' at {address}' if address else ''}: {one_line(exc, typed=True)}"
                ) from None
            self._owned = True
            if not verbose:  # Ray Data and the core worker log at INFO through their own loggers
                for name in ("ray", "ray.data", "ray._private"):
                    logging.getLogger(name).setLevel(logging.ERROR)
        self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._remote = ray.remote(num_cpus=1, max_retries=0)(run_task)

    def imap(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[TaskResult]:
        ray = self._ray
        pending = {self._remote.remote(fn, i, item): i for i, item in enumerate(items)}
        remaining = list(pending)
        try:
            while remaining:
                # whatever finished within a short wait, so 10,000 tasks do not cost 10,000 scans
                ready, remaining = ray.wait(remaining, num_returns=len(remaining), timeout=0.2)
                for ref in ready:
                    index = pending.pop(ref)
                    try:
                        yield ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - a dead worker fails its task only
                        yield TaskResult(index, error=one_line(exc, typed=True))
        finally:
            for ref in pending:  # stopped early (Ctrl-C, error in the driver): cancel the rest
                ray.cancel(ref, force=True)

    def close(self) -> None:
        if self._owned and self._ray.is_initialized():
            self._ray.shutdown()
        self._owned = False
