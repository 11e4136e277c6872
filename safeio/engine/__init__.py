"""One small interface for running independent tasks: a local process pool, or Ray.

Why an interface: catalogue builds, evaluations, multi-policy replays and simulations all map a
function over a list of items and gather small results; which machine runs the tasks is a
deployment choice, not part of the job. Every engine gives the same results for the same tasks
(tasks must be deterministic given their item). It lives in safeio so libraries (simulations,
imaging) and the application use the same one.

Contract of `Engine.imap(fn, items)` (safeio.engine.base):
- `fn` is a module-level function (picklable) taking one item; items are small (paths, specs),
  never frames or arrays: big data is read and written by the task itself.
- yields one `TaskResult` per item, in completion order, each with the item's index;
- an exception inside a task never escapes: it becomes `TaskResult.error`, a one-line message,
  and the other tasks go on.

The engines: `safeio.engine.local.LocalEngine` (processes on this machine) and
`safeio.engine.ray.RayEngine` (the optional Ray extra). This module imports neither until
`make_engine` is called, so a CLI can offer `ENGINES` as choices without loading
multiprocessing or Ray.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from safeio.engine.base import Engine

ENGINES: tuple[str, ...] = ("local", "ray")  # their one home: the CLI's --engine choices


def make_engine(
    name: str = "local", *, workers: int | None = None, address: str | None = None, verbose: bool = False
) -> "Engine":
    """The engine called `name` ("local" or "ray"); Ray is imported only when asked for."""
    from safeio.engine.base import EngineError

    if name == "local":
        from safeio.engine.local import LocalEngine

        return LocalEngine(workers)
    if name == "ray":
        from safeio.engine.ray import RayEngine  # optional extra: pip install 'artbandit[ray]'

        return RayEngine(workers=workers, address=address, verbose=verbose)
    raise EngineError(f"unknown engine {name!r} (choose from {', '.join(ENGINES)})")
