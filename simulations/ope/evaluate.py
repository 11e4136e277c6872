"""`evaluate`: which policy should ship? Every candidate replayed progressively over one log, scored
with SNIPS and DR with intervals, in total and by time bucket, with a winner and a recommendation.

Work is split so candidates can run anywhere (a process pool, Ray): `prepare` makes the shared pass
(the cross-fitted reward model's q for every event and candidate, best-fixed's action values, the
logged rewards) and stores it as one .npz file; `score_candidate(task)` is a module-level function
that replays ONE candidate over the log (simulations.ope.progressive.score_chunk) and returns its
per-event arrays; `summarize` turns arrays into estimates (simulations.ope.estimators). The same
tasks give the same numbers on any engine: every task is seeded by the evaluation's seed only.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from simulations.errors import SimulationError
from simulations.ope.candidates import REFERENCE, build_candidate, check_candidate
from simulations.ope.estimators import OPEArrays, cumulative_curve, estimate, ratio_interval, terms
from simulations.ope.readers import ColumnMapping, LogSource, open_log

SCHEMA = "artbandit.evaluation/1"
ESTIMATORS = ("snips", "dr")
PREP_FILE = "prepared.npz"
# Fewer events than this and there is nothing to decide: the delta-method intervals need a few dozen
# events to mean anything (with one or two they are NaN), so evaluate says so instead of ranking.
MIN_EVENTS = 30


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
    """One candidate to replay: the log, the prepared pass, the spec, the seed, and what to hide."""

    log: LogRef
    prepared: str
    spec: str
    seed: int = 0
    drop_context: str | None = None   # feature importance: a context namespace left out
    drop_action: str | None = None    # ... or an action feature left out


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


def prepare(log: LogRef, path: str | Path, *, seed: int = 0,
            on_events: Callable[[int], None] | None = None) -> dict[str, Any]:
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
        q=np.concatenate(q_flat), offsets=np.array(offsets, np.int64), reward=np.array(reward),
        logged_p=np.array(logged_p), time=np.array(times), title=np.array(title_idx, np.int32),
        title_names=np.array(list(titles), dtype=str),  # plain strings: the file loads without pickles
        best_fixed=np.array(json.dumps(tally.values())),
    )
    return {"events": position, "titles": list(titles), "notes": list(source.notes),
            "format": source.format}


def _load(path: str) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as z:  # never unpickle: prepare writes numbers and strings only
        return {k: z[k] for k in z.files}


def score_candidate(task: Task) -> dict[str, np.ndarray]:
    """Replay one candidate through the log in time order; its per-event arrays (module-level so a
    process pool or Ray can run it)."""
    from simulations.ope.progressive import PolicySlot, score_chunk

    prep = _load(task.prepared)
    n = len(prep["reward"])
    policy = build_candidate(task.spec, seed=task.seed,
                             best_fixed=json.loads(str(prep["best_fixed"])))
    if task.drop_context or task.drop_action:
        policy = _Hiding(policy, task.drop_context, task.drop_action)
    slot = PolicySlot(task.spec, policy)
    q, offsets = prep["q"], prep["offsets"]
    rng = np.random.default_rng(task.seed)
    position = 0
    try:
        for chunk in task.log.open().chunks():
            m = len(chunk)
            q_hat = [q[offsets[position + i]:offsets[position + i + 1]] for i in range(m)]
            score_chunk([slot], chunk, rng.random(m), q_hat)
            position += m
    finally:
        close = getattr(getattr(policy, "policy", policy), "close", None)
        if close:
            close()
    if position != n:
        raise SimulationError(f"{task.log.path}: the log changed during the evaluation ({position} vs {n} events)")
    return {"target_p": np.concatenate(slot.target_p), "matched": np.concatenate(slot.matched),
            "dm": np.concatenate(slot.dm), "zero_support": np.concatenate(slot.zero_support)}


class _Hiding:
    """A candidate that never sees one context namespace or one action feature (feature importance)."""

    def __init__(self, policy: Any, context_ns: str | None, action_feature: str | None) -> None:
        self.policy, self.ns, self.feature = policy, context_ns, action_feature
        self._actions: tuple[int, list[dict]] | None = None

    def _ctx(self, context: dict) -> dict:
        from simulations.ope.importance import hide_context

        return hide_context(context, self.ns) if self.ns else context

    def _acts(self, actions: list[dict]) -> list[dict]:
        if not self.feature:
            return actions
        if self._actions is None or self._actions[0] != id(actions):
            self._actions = (id(actions), [
                {"id": a["id"], "features": {k: v for k, v in a.get("features", {}).items() if k != self.feature}}
                for a in actions])
        return self._actions[1]

    def predict(self, context: dict, actions: list[dict]) -> np.ndarray:
        return self.policy.predict(self._ctx(context), self._acts(actions))

    def learn(self, context: dict, actions: list[dict], *args: Any) -> None:
        self.policy.learn(self._ctx(context), self._acts(actions), *args)


def arrays_for(prep: dict[str, Any], scored: dict[str, np.ndarray], q_logged: np.ndarray) -> OPEArrays:
    return OPEArrays(reward=prep["reward"], logged_p=prep["logged_p"], q_logged=q_logged, **scored)


def summarize(data: OPEArrays, *, buckets: int = 10, confidence: float = 0.95,
              curve_points: int = 60) -> dict[str, Any]:
    """Estimates with intervals in total and per time bucket (equal numbers of events), plus curves."""
    out: dict[str, Any] = {"estimates": {}, "buckets": {}, "curve": {}}
    n = len(data.reward)
    edges = np.linspace(0, n, min(buckets, n) + 1).astype(int)
    for name in ESTIMATORS:
        out["estimates"][name] = estimate(name, data, confidence=confidence).to_dict()
        num, den = terms(name, data)
        rows = []
        for a, b in zip(edges[:-1], edges[1:]):
            v, lo, hi, se, _ = ratio_interval(num[a:b], den[a:b], confidence=confidence)
            rows.append({"start": int(a), "end": int(b), "value": v, "low": lo, "high": hi})
        out["buckets"][name] = rows
        ks, vals = cumulative_curve(name, data, curve_points)
        out["curve"]["events"] = ks
        out["curve"][name] = vals
    return out


def paired_difference(a: OPEArrays, b: OPEArrays, name: str = "dr", confidence: float = 0.95) -> dict[str, float]:
    """value(a) - value(b) with an interval from the per-event differences (both on the same events,
    so the shared noise cancels: far narrower than comparing two separate intervals)."""
    na, da = terms(name, a)
    nb, db = terms(name, b)
    if name == "snips":  # ratio estimators: linearise each around its value, then difference
        va, vb = na.sum() / da.sum(), nb.sum() / db.sum()
        diff = (na - va * da) / da.mean() - (nb - vb * db) / db.mean()
        v, lo, hi, _, _ = ratio_interval(diff, np.ones_like(diff), confidence=confidence)
        return {"value": float(va - vb), "low": float(va - vb + lo - v), "high": float(va - vb + hi - v)}
    v, lo, hi, _, _ = ratio_interval(na - nb, np.ones_like(na), confidence=confidence)
    return {"value": v, "low": lo, "high": hi}


def run_tasks(tasks: Sequence[Task], imap: Callable | None = None,
              on_done: Callable[[int], None] | None = None) -> list[dict[str, np.ndarray] | str]:
    """score_candidate over tasks through `imap(fn, items)` (an engine's; default: one by one here).
    Returns, in task order, each task's arrays or its one-line error."""
    results: list[Any] = [None] * len(tasks)
    if imap is None:
        for i, t in enumerate(tasks):
            try:
                results[i] = score_candidate(t)
            except Exception as exc:  # noqa: BLE001 - one bad candidate must not sink the others
                results[i] = " ".join(f"{type(exc).__name__}: {exc}".split())
            if on_done:
                on_done(1)
        return results
    for r in imap(score_candidate, list(tasks)):
        results[r.index] = r.value if r.error is None else r.error
        if on_done:
            on_done(1)
    return results


def evaluate(log: str | Path, work_dir: str | Path, candidates: Sequence[str], *, fmt: str = "auto",
             mapping: ColumnMapping | None = None, seed: int = 0, buckets: int = 10,
             confidence: float = 0.95, chunk_size: int = 10_000, imap: Callable | None = None,
             importance: bool = False, drift: bool = True,
             on_events: Callable[[int], None] | None = None,
             on_task: Callable[[int], None] | None = None,
             window: tuple[float | None, float | None] | None = None) -> dict[str, Any]:
    """The whole evaluation as a dict (the content of evaluation.json). `work_dir` holds the shared
    prepared pass (tasks read it); `imap` is an engine's imap (safeio.engine); `window`
    (since, until) in epoch seconds: only the events logged in that span (SQLite logs, open_log)."""
    candidates = list(dict.fromkeys(s.strip() for s in candidates))
    if not candidates:
        raise SimulationError("no candidate policy to evaluate")
    if "logged" not in candidates:
        candidates.insert(0, "logged")
    for spec in candidates:
        check_candidate(spec)
    source = open_log(log, fmt, mapping, chunk_size=chunk_size, window=window)
    ref = LogRef(str(Path(log).resolve()), source.format, source.mapping, chunk_size, window)
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    prep_path = str(Path(work_dir) / PREP_FILE)
    info = prepare(ref, prep_path, seed=seed, on_events=on_events)
    if info["events"] < MIN_EVENTS:
        raise SimulationError(f"{log}: too little data to evaluate: {_events(info['events'])} "
                              f"(at least {MIN_EVENTS} are needed for an estimate with an interval)")
    prep = _load(prep_path)
    q_logged = score_candidate(Task(ref, prep_path, "logged", seed))["dm"]  # q of each logged action
    tasks = [Task(ref, prep_path, spec, seed) for spec in candidates]
    scored = run_tasks(tasks, imap, on_task)
    policies: list[dict[str, Any]] = []
    arrays: dict[str, OPEArrays] = {}
    for spec, res in zip(candidates, scored):
        if isinstance(res, str):
            policies.append({"name": spec, "error": res})
            continue
        data = arrays_for(prep, res, q_logged)
        arrays[spec] = data
        policies.append({"name": spec, "reference": spec in REFERENCE,
                         **summarize(data, buckets=buckets, confidence=confidence)})
    result: dict[str, Any] = {
        "schema": SCHEMA,
        "log": {"path": str(log), "format": info["format"], "events": info["events"],
                "titles": len(info["titles"]), "logged_reward_mean": float(prep["reward"].mean()),
                "notes": info["notes"]},
        "settings": {"estimators": list(ESTIMATORS), "confidence": confidence, "seed": seed,
                     "buckets": buckets, "learn_on": "all",
                     "reward_model": "VW squared-loss regression (-q cA), 2-fold cross-fitted"},
        "policies": policies,
    }
    result["decision"] = decide(policies, arrays, confidence)
    if drift:
        from simulations.ope.driftreport import logged_drifts, reward_changes

        result["drift"] = reward_changes(prep)
        if info["format"] == "sqlite":  # what the live policy itself detected (bandit.vw_policy)
            result["drift"]["logged"] = logged_drifts(log, prep, window)
    if importance and result["decision"]["winner"]:
        from simulations.ope.importance import feature_importance

        spec = result["decision"]["winner"]
        if not spec.startswith("vw"):
            spec = "vw:select"
        result["importance"] = feature_importance(ref, prep_path, spec, arrays.get(spec), q_logged, prep,
                                                  seed=seed, imap=imap, confidence=confidence)
    return result


SHIP, LIKELY, KEEP = "ship", "likely", "keep"


def verdict(candidate: dict[str, Any], current: dict[str, Any], difference: dict[str, Any] | None) -> str:
    """The ship rule (docs/evaluate.md), on intervals, never on point estimates:

    - SHIP ("clearly better") when the candidate's DR interval lies entirely above the current
      policy's: its low strictly above the current high (touching intervals do not ship);
    - LIKELY when the intervals overlap but the paired difference's interval (same events, shared
      noise cancels) lies strictly above zero: collect more data;
    - KEEP otherwise, and whenever a bound is missing or not finite."""
    def finite(*xs: Any) -> bool:
        return all(x is not None and math.isfinite(x) for x in xs)

    if finite(candidate.get("low"), current.get("high")) and candidate["low"] > current["high"]:
        return SHIP
    if difference and finite(difference.get("low")) and difference["low"] > 0:
        return LIKELY
    return KEEP


def leaderboard(policies: list[dict[str, Any]]) -> list[tuple[int | None, dict[str, Any]]]:
    """Policies without errors, best DR first (a missing or non-finite estimate last; 0.0 is an
    estimate like any other), each with its rank among deployable candidates. References (logged,
    best-fixed) are placed by value but never ranked: a hindsight reference is no candidate to ship."""
    ok = [p for p in policies if "error" not in p]
    ordered = sorted(ok, key=lambda p: -_value(p, "dr"))  # stable: ties keep the candidates' order
    out: list[tuple[int | None, dict[str, Any]]] = []
    rank = 0
    for p in ordered:
        if p.get("reference"):
            out.append((None, p))
        else:
            rank += 1
            out.append((rank, p))
    return out


def decide(policies: list[dict[str, Any]], arrays: dict[str, OPEArrays], confidence: float) -> dict[str, Any]:
    """The winner by DR among deployable candidates (never a reference), and the verdict of `verdict`
    against the logged policy: ship, likely better (collect more data), or keep the current policy."""
    ranked = [p for rank, p in leaderboard(policies) if rank is not None]
    logged = next((p for p in policies if p["name"] == "logged" and "error" not in p), None)
    if not ranked:
        return {"winner": None, "clearly_better": False, "action": KEEP,
                "recommendation": "No candidate could be evaluated."}
    best = ranked[0]
    e = best["estimates"]["dr"]
    out: dict[str, Any] = {"winner": best["name"], "estimator": "dr", "value": e["value"],
                           "low": e["low"], "high": e["high"]}
    if logged is None:
        out.update(clearly_better=False, action=KEEP,
                   recommendation=f"Best candidate: {best['name']} (no logged policy to compare with).")
        return out
    le = logged["estimates"]["dr"]
    diff = paired_difference(arrays[best["name"]], arrays["logged"], "dr", confidence)
    action = verdict(e, le, diff)
    out.update(clearly_better=action == SHIP, action=action, logged_value=le["value"], logged_low=le["low"],
               logged_high=le["high"], difference=diff)
    change = _change(e["value"], le["value"])
    if action == SHIP:
        rec = (f"Ship {best['name']}: estimated {e['value']:.4f} vs {le['value']:.4f} now ({change}), "
               f"intervals do not overlap.")
    elif action == LIKELY:
        rec = (f"{best['name']} is likely better ({change}, paired difference "
               f"[{diff['low']:+.4f}, {diff['high']:+.4f}]) but the intervals overlap: collect more data "
               f"before switching.")
    else:
        rec = (f"Keep the current policy: the best candidate {best['name']} ({change}) is not "
               f"clearly better.")
    out["recommendation"] = rec
    return out


def _change(value: float | None, current: float | None) -> str:
    """'+12.3%' against a positive current value; the absolute difference otherwise (a current value
    of 0 has no percentage); 'no estimate' when either is missing. Never 'nan'."""
    if value is None or current is None or not (math.isfinite(value) and math.isfinite(current)):
        return "no estimate"
    if current > 0:
        return f"{(value / current - 1.0) * 100:+.1f}%"
    return f"{value - current:+.4f} absolute"


def _events(n: int) -> str:
    return f"{n:,} event" + ("" if n == 1 else "s")


def _value(p: dict[str, Any], name: str) -> float:
    v = p["estimates"][name]["value"]
    return v if v is not None and math.isfinite(v) else -math.inf


def json_safe(obj: Any) -> Any:
    """numpy to Python, NaN/inf to null: evaluation.json is strict JSON."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj
