"""`evaluate`: which policy should ship? Every candidate replayed progressively over one log, scored
with SNIPS and DR with intervals, in total and by time bucket, with a winner and a recommendation.

Work is split so candidates can run on any engine (safeio.engine: a process pool, Ray): the shared
prepared pass and one task per candidate (simulations.ope.scoring); `summarize` turns each
candidate's per-event arrays into estimates (simulations.ope.estimators). The same tasks give the
same numbers on any engine: every task is seeded by the evaluation's seed only.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from simulations.errors import SimulationError
from simulations.ope.estimators import OPEArrays, cumulative_curve, estimate, paired_difference, ratio_interval, terms
from simulations.ope.policies import REFERENCE, check_policy
from simulations.ope.readers import ColumnMapping, open_log
from simulations.ope.scoring import LogRef, Task, arrays_for, load_prepared, prepare, score_all, score_policy

if TYPE_CHECKING:
    from safeio.engine.base import Engine

SCHEMA = "artbandit.evaluation/1"
ESTIMATORS = ("snips", "dr")
PREP_FILE = "prepared.npz"  # in the work folder: the shared pass every task reads
# Fewer events than this and there is nothing to decide: the delta-method intervals need a few dozen
# events to mean anything (with one or two they are NaN), so evaluate says so instead of ranking.
MIN_EVENTS = 30


def summarize(
    data: OPEArrays, *, buckets: int = 10, confidence: float = 0.95, curve_points: int = 60
) -> dict[str, Any]:
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


def evaluate(
    log: str | Path,
    work_dir: str | Path,
    candidates: Sequence[str],
    *,
    fmt: str = "auto",
    mapping: ColumnMapping | None = None,
    seed: int = 0,
    buckets: int = 10,
    confidence: float = 0.95,
    chunk_size: int = 10_000,
    engine: Engine | None = None,
    importance: bool = False,
    drift: bool = True,
    on_events: Callable[[int], None] | None = None,
    on_task: Callable[[int], None] | None = None,
    window: tuple[float | None, float | None] | None = None,
) -> dict[str, Any]:
    """The whole evaluation as a dict (the content of evaluation.json). `work_dir` holds the shared
    prepared pass (tasks read it); `engine` runs the candidates (safeio.engine; default: one by
    one in this process); `window` (since, until) in epoch seconds: only the events logged in that
    span (SQLite logs, open_log)."""
    candidates = list(dict.fromkeys(s.strip() for s in candidates))
    if not candidates:
        raise SimulationError("no candidate policy to evaluate")
    if "logged" not in candidates:
        candidates.insert(0, "logged")
    for spec in candidates:
        check_policy(spec)
    source = open_log(log, fmt, mapping, chunk_size=chunk_size, window=window)
    ref = LogRef(str(Path(log).resolve()), source.format, source.mapping, chunk_size, window)
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    prep_path = str(Path(work_dir) / PREP_FILE)
    info = prepare(ref, prep_path, seed=seed, on_events=on_events)
    if info["events"] < MIN_EVENTS:
        raise SimulationError(
            f"{log}: too little data to evaluate: {_events(info['events'])} "
            f"(at least {MIN_EVENTS} are needed for an estimate with an interval)"
        )
    prep = load_prepared(prep_path)
    q_logged = score_policy(Task(ref, prep_path, "logged", seed))["dm"]  # q of each logged action
    tasks = [Task(ref, prep_path, spec, seed) for spec in candidates]
    scored = score_all(tasks, engine, on_task)
    policies: list[dict[str, Any]] = []
    arrays: dict[str, OPEArrays] = {}
    for spec, res in zip(candidates, scored):
        if isinstance(res, str):
            policies.append({"name": spec, "error": res})
            continue
        data = arrays_for(prep, res, q_logged)
        arrays[spec] = data
        policies.append(
            {"name": spec, "reference": spec in REFERENCE, **summarize(data, buckets=buckets, confidence=confidence)}
        )
    result: dict[str, Any] = {
        "schema": SCHEMA,
        "log": {
            "path": str(log),
            "format": info["format"],
            "events": info["events"],
            "titles": len(info["titles"]),
            "logged_reward_mean": float(prep["reward"].mean()),
            "notes": info["notes"],
        },
        "settings": {
            "estimators": list(ESTIMATORS),
            "confidence": confidence,
            "seed": seed,
            "buckets": buckets,
            "learn_on": "all",
            "reward_model": "VW squared-loss regression (-q cA), 2-fold cross-fitted",
        },
        "policies": policies,
    }
    result["decision"] = decide(policies, arrays, confidence)
    if drift:
        from simulations.ope.rewarddrift import logged_drifts, reward_changes

        result["drift"] = reward_changes(prep)
        if info["format"] == "sqlite":  # what the live policy itself detected (bandit.policies.vw)
            result["drift"]["logged"] = logged_drifts(log, prep, window)
    if importance and result["decision"]["winner"]:
        from simulations.ope.importance import feature_importance

        spec = result["decision"]["winner"]
        if not spec.startswith("vw"):
            spec = "vw:select"
        result["importance"] = feature_importance(
            ref, prep_path, spec, arrays.get(spec), q_logged, prep, seed=seed, engine=engine, confidence=confidence
        )
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
        return {
            "winner": None,
            "clearly_better": False,
            "action": KEEP,
            "recommendation": "No candidate could be evaluated.",
        }
    best = ranked[0]
    e = best["estimates"]["dr"]
    out: dict[str, Any] = {
        "winner": best["name"],
        "estimator": "dr",
        "value": e["value"],
        "low": e["low"],
        "high": e["high"],
    }
    if logged is None:
        out.update(
            clearly_better=False,
            action=KEEP,
            recommendation=f"Best candidate: {best['name']} (no logged policy to compare with).",
        )
        return out
    le = logged["estimates"]["dr"]
    diff = paired_difference(arrays[best["name"]], arrays["logged"], "dr", confidence)
    action = verdict(e, le, diff)
    out.update(
        clearly_better=action == SHIP,
        action=action,
        logged_value=le["value"],
        logged_low=le["low"],
        logged_high=le["high"],
        difference=diff,
    )
    change = _change(e["value"], le["value"])
    if action == SHIP:
        rec = (
            f"Ship {best['name']}: estimated {e['value']:.4f} vs {le['value']:.4f} now ({change}), "
            f"intervals do not overlap."
        )
    elif action == LIKELY:
        rec = (
            f"{best['name']} is likely better ({change}, paired difference "
            f"[{diff['low']:+.4f}, {diff['high']:+.4f}]) but the intervals overlap: collect more data "
            f"before switching."
        )
    else:
        rec = f"Keep the current policy: the best candidate {best['name']} ({change}) is not clearly better."
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
