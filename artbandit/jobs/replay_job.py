"""Several replay policies at once on an engine: one policy per task, on the same log.

Each task runs simulations.ope.replay.replay_log for its one policy; the driver puts the results
back in the order the policies were given. The numbers equal a single replay_log over all of
them: each policy is seeded alone, the random draws of the replay are made per chunk and shared
by every policy, and the reward model depends on the log and seed only. (Each task fits its own
copy of the reward model: the price of independence.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from safeio.engine.base import Engine


@dataclass(frozen=True)
class PolicyTask:
    """One policy to evaluate on a log (paths and options only: each task reads the log itself)."""

    log: str
    policy: str
    estimators: tuple[str, ...]
    fmt: str = "auto"
    mapping: Any = None  # simulations.ope.readers.ColumnMapping
    options: dict[str, Any] = field(default_factory=dict)  # bootstrap, confidence, seed, learn_on, ...


def replay_one(task: PolicyTask) -> dict[str, Any]:
    """replay_log for one policy (runs in a worker)."""
    from simulations.ope.replay import replay_log

    return replay_log(
        task.log, [task.policy], list(task.estimators), fmt=task.fmt, mapping=task.mapping, **task.options
    )


def replay_policies(
    engine: Engine,
    log: str | Path,
    policies: Sequence[str],
    estimators: Sequence[str],
    *,
    fmt: str = "auto",
    mapping: Any = None,
    on_policy: Callable[[int], None] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """The result replay_log would give for all `policies`, computed one policy per task.

    A task's failure (a bad policy spec, an unreadable log) raises SimulationError with its message.
    """
    from simulations.errors import SimulationError

    tasks = [PolicyTask(str(log), p, tuple(estimators), fmt, mapping, dict(options)) for p in policies]
    if not tasks:
        raise SimulationError("no policy to evaluate; give at least one --policy")
    results: list[dict[str, Any] | None] = [None] * len(tasks)
    for n, res in enumerate(engine.imap(replay_one, tasks), 1):
        if not res.ok:
            raise SimulationError(f"policy {policies[res.index]!r}: {res.error}")
        results[res.index] = res.value
        if on_policy is not None:
            on_policy(n)
    merged = dict(results[0])  # type: ignore[arg-type]
    merged["policies"] = [r["policies"][0] for r in results]  # type: ignore[index]
    names = [p["name"] for p in merged["policies"]]
    for i, p in enumerate(merged["policies"]):  # two runs of one spec get distinct names, as replay_log does
        if names.count(p["name"]) > 1:
            p["name"] = f"{p['name']}#{names[: i + 1].count(p['name'])}"
    return merged
