"""The unit of work of `evaluate`: the shared prepared pass, and one policy scored over the log.

`prepare` makes the shared pass (the cross-fitted reward model's q for every event and action,
best-fixed's action values, the logged rewards) and stores it as one .npz file; `score_policy(task)`
is a module-level function that replays ONE policy over the log (simulations.ope.progressive.
score_chunk) and returns its per-event arrays, so tasks can run on any engine (safeio.engine: a
process pool, Ray); `score_all` runs a list of tasks. The same tasks give the same numbers on any
engine: every task is seeded by the evaluation's seed only. Used by `evaluate` and by the feature
importance (simulations.ope.importance), which replays a policy with a feature hidden.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from safeio.engine.base import Engine
from safeio.engine.local import LocalEngine
from simulations.errors import SimulationError
from simulations.ope.estimators import OPEArrays
from simulations.ope.policies import build_policy
from simulations.ope.readers import ColumnMapping, LogSource, open_log
from simulations.ope.readers.cells import column_group


@dataclass(frozen=True)
class LogRef:
    """How a task re-opens the log (small and picklable: a path and the reader's options)."""

    path: str
    fmt: str
    mapping: ColumnMapping
    chunk_size: int = 10_000
    window: tuple[float | None, float | None] | None = None  # (since, until): open_log's time window

    def open(self) -> LogSource:
        return open_log(self.path, self.fmt, self.mapping, chunk_size=self.chunk_size, window=self.window)


@dataclass(frozen=True)
class Task:
    """One policy to replay: the log, the prepared pass, the spec, the seed, and what to hide."""

    log: LogRef
    prepared: str
    spec: str
    seed: int = 0
    drop_context: str | None = None  # feature importance: a context namespace left out
    drop_action: str | None = None  # ... or an action feature left out


def title_key(action_ids: Sequence[str]) -> str:
    """A title's name from its candidate ids: their common prefix (e.g. 't03-' -> 't03'), else the
    first id. Candidate sets are how a log says which title an event was for.
    Cut at the last separator: 't000/v0'..'t000/v5' -> 't000'."""
    prefix = action_ids[0]
    for a in action_ids[1:]:
        while not a.startswith(prefix):
            prefix = prefix[:-1]
    cut = max(prefix.rfind(c) for c in "-_:./ ")
    prefix = prefix[:cut] if cut > 0 else prefix
    return prefix or action_ids[0]


def prepare(
    log: LogRef, path: str | Path, *, seed: int = 0, on_events: Callable[[int], None] | None = None
) -> dict[str, Any]:
    """The shared first passes: reward model fit, then q for every event; saved to `path` (.npz).

    Returns a small summary (events, titles, times) for the report.
    """
    from simulations.ope.progressive import ActionValueTally
    from simulations.ope.rewardmodel import CrossFitRewardModel

    source = log.open()
    model = CrossFitRewardModel(seed=seed)
    tally = ActionValueTally()
    position = 0
    try:
        for chunk in source.chunks():
            for ev in chunk:
                model.learn(position, ev)
                tally.add(ev)
                position += 1
            if on_events:
                on_events(len(chunk))
        if position == 0:
            raise SimulationError(f"{log.path}: the log has no usable events")
        q_flat, offsets, reward, logged_p, times, title_idx = [], [0], [], [], [], []
        titles: dict[str, int] = {}
        position = 0
        for chunk in source.chunks():
            for ev in chunk:
                q = model.predict(position, ev)
                q_flat.append(q)
                offsets.append(offsets[-1] + len(q))
                reward.append(ev.reward)
                logged_p.append(ev.probability)
                times.append(np.nan if ev.time is None else float(ev.time))
                title_idx.append(titles.setdefault(title_key(ev.action_ids), len(titles)))
                position += 1
            if on_events:
                on_events(len(chunk))
    finally:
        model.close()
    np.savez(
        path,
        q=np.concatenate(q_flat),
        offsets=np.array(offsets, np.int64),
        reward=np.array(reward),
        logged_p=np.array(logged_p),
        time=np.array(times),
        title=np.array(title_idx, np.int32),
        title_names=np.array(list(titles), dtype=str),  # plain strings: the file loads without pickles
        best_fixed=np.array(json.dumps(tally.values())),
    )
    return {"events": position, "titles": list(titles), "notes": list(source.notes), "format": source.format}


def load_prepared(path: str) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as z:  # never unpickle: prepare writes numbers and strings only
        return {k: z[k] for k in z.files}


def score_policy(task: Task) -> dict[str, np.ndarray]:
    """Replay one policy through the log in time order; its per-event arrays (module-level so a
    process pool or Ray can run it)."""
    from simulations.ope.progressive import PolicySlot, score_chunk

    prep = load_prepared(task.prepared)
    n = len(prep["reward"])
    policy = build_policy(task.spec, seed=task.seed, best_fixed=json.loads(str(prep["best_fixed"])))
    if task.drop_context or task.drop_action:
        policy = HidingPolicy(policy, task.drop_context, task.drop_action)
    slot = PolicySlot(task.spec, policy)
    q, offsets = prep["q"], prep["offsets"]
    rng = np.random.default_rng(task.seed)
    position = 0
    try:
        for chunk in task.log.open().chunks():
            m = len(chunk)
            q_hat = [q[offsets[position + i] : offsets[position + i + 1]] for i in range(m)]
            score_chunk([slot], chunk, rng.random(m), q_hat)
            position += m
    finally:
        close = getattr(getattr(policy, "policy", policy), "close", None)
        if close:
            close()
    if position != n:
        raise SimulationError(f"{task.log.path}: the log changed during the evaluation ({position} vs {n} events)")
    return {
        "target_p": np.concatenate(slot.target_p),
        "matched": np.concatenate(slot.matched),
        "dm": np.concatenate(slot.dm),
        "zero_support": np.concatenate(slot.zero_support),
    }


class HidingPolicy:
    """A policy that never sees one context namespace or one action feature (feature importance)."""

    def __init__(self, policy: Any, context_ns: str | None, action_feature: str | None) -> None:
        self.policy, self.ns, self.feature = policy, context_ns, action_feature
        self._actions: tuple[int, list[dict]] | None = None

    def _ctx(self, context: dict) -> dict:
        return hide_context(context, self.ns) if self.ns else context

    def _acts(self, actions: list[dict]) -> list[dict]:
        if not self.feature:
            return actions
        if self._actions is None or self._actions[0] != id(actions):
            self._actions = (
                id(actions),
                [
                    {"id": a["id"], "features": {k: v for k, v in a.get("features", {}).items() if k != self.feature}}
                    for a in actions
                ],
            )
        return self._actions[1]

    def predict(self, context: dict, actions: list[dict]) -> np.ndarray:
        return self.policy.predict(self._ctx(context), self._acts(actions))

    def learn(self, context: dict, actions: list[dict], *args: Any) -> None:
        self.policy.learn(self._ctx(context), self._acts(actions), *args)


def hide_context(context: dict, group: str) -> dict:
    """The context without one feature group: a namespace ('user'), or in the namespace flat columns
    land in, the columns of one prefix ('context/user_feature': user_feature_0, user_feature_1, ...)."""
    ns, _, prefix = group.partition("/")
    if not prefix:
        return {k: v for k, v in context.items() if k != ns}
    out = dict(context)
    if ns in out:
        out[ns] = {k: v for k, v in out[ns].items() if column_group(k) != prefix}
    return out


def arrays_for(prep: dict[str, Any], scored: dict[str, np.ndarray], q_logged: np.ndarray) -> OPEArrays:
    return OPEArrays(reward=prep["reward"], logged_p=prep["logged_p"], q_logged=q_logged, **scored)


def score_all(
    tasks: Sequence[Task], engine: Engine | None = None, on_done: Callable[[int], None] | None = None
) -> list[dict[str, np.ndarray] | str]:
    """score_policy over tasks on `engine` (default: one by one in this process).
    Returns, in task order, each task's arrays or its one-line error: one bad policy must not sink
    the others."""
    results: list[Any] = [None] * len(tasks)
    for r in (engine or LocalEngine(1)).imap(score_policy, list(tasks)):  # the caller closes its engine
        results[r.index] = r.value if r.ok else r.error
        if on_done:
            on_done(1)
    return results
