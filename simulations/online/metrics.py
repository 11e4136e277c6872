"""Exact metrics of a simulated run: value, regret, lift and the exposure audit.

Because the environment knows every click/play probability, expected values are computed from
probabilities (no sampling noise): the value of showing variant a at impression t is click_p[t, a].
Realised CTR (actual simulated clicks) is reported alongside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from simulations.world.environment import Environment, Stream

N_POINTS = 100  # points per time series
# A lift over a baseline rate below this is not reported as a percentage: over a 0.25% CTR, one
# extra click in a thousand reads as "+40%" and a segment's lift of +12,520% says nothing.
MIN_LIFT_BASE = 0.01


@dataclass
class Trace:
    """What one policy did on the stream (row t = impression t)."""

    chosen: np.ndarray  # (n,) index into that impression's actions
    explored: np.ndarray  # (n,) bool: chosen != the policy's most probable action
    click: np.ndarray  # (n,) bool, realised
    play: np.ndarray  # (n,) bool, realised
    late_rewards: int = 0  # rewards that arrived after the policy's reward window closed


def _prob(stream: Stream, reward: str) -> np.ndarray:
    return stream.click_p if reward == "click" else stream.play_p


def _group_ids(stream: Stream) -> np.ndarray:
    """One group per (title, number of available variants): the unit a fixed artwork is chosen for."""
    key = stream.title * (stream.click_p.shape[1] + 1) + stream.k
    return np.unique(key, return_inverse=True)[1]


def baselines(stream: Stream, reward: str) -> dict[str, np.ndarray]:
    """Per-impression choices of the reference policies for `reward`.

    oracle: the best variant for this very viewer (argmax of the true probability).
    best_fixed: one variant per title (per set of available variants) chosen in hindsight, the
    "same artwork for everyone" a non-personalised team would pick with perfect knowledge.
    """
    p = _prob(stream, reward)
    masked = np.where(np.arange(p.shape[1])[None, :] < stream.k[:, None], p, -1.0)
    oracle = masked.argmax(axis=1)
    groups = _group_ids(stream)
    sums = np.zeros((groups.max() + 1, p.shape[1]))
    for j in range(p.shape[1]):
        sums[:, j] = np.bincount(groups, weights=p[:, j], minlength=sums.shape[0])
    # unavailable columns are 0 in p and available ones are > 0, so argmax picks an available one
    best_fixed = sums.argmax(axis=1)[groups]
    return {"oracle": oracle, "best_fixed": best_fixed}


def _values(stream: Stream, chosen: np.ndarray) -> dict[str, np.ndarray]:
    rows = np.arange(stream.n)
    return {"click": stream.click_p[rows, chosen], "quality_play": stream.play_p[rows, chosen]}


def uniform_values(stream: Stream) -> dict[str, np.ndarray]:
    return {"click": stream.click_p.sum(axis=1) / stream.k, "quality_play": stream.play_p.sum(axis=1) / stream.k}


def gini(shares: np.ndarray) -> float:
    """Gini coefficient of exposure (0 = every variant shown equally, ->1 = one variant only)."""
    x = np.sort(np.asarray(shares, dtype=float))
    n = x.size
    if n < 2 or x.sum() <= 0:
        return 0.0
    cum = np.cumsum(x)
    return float((n + 1 - 2 * (cum / cum[-1]).sum()) / n)


def _series(values: np.ndarray, idx: np.ndarray) -> list[float]:
    c = np.cumsum(values)
    return [round(float(v), 6) for v in c[idx]]


def _window_share(num: np.ndarray, den: np.ndarray, n_windows: int) -> list[float]:
    edges = np.linspace(0, num.size, n_windows + 1).astype(int)
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        d = den[a:b].sum()
        out.append(round(float(num[a:b].sum() / d), 6) if d > 0 else 0.0)
    return out


def reference_metrics(env: Environment, stream: Stream, reward: str) -> dict[str, Any]:
    """Oracle, best-fixed and uniform values for the stream (the same for every policy), overall
    and per segment (`segments`: {segment: {oracle, best_fixed, uniform_expected}})."""
    refs = baselines(stream, reward)
    values = {name: _values(stream, refs[name]) for name in ("oracle", "best_fixed")}
    values["uniform_expected"] = uniform_values(stream)

    def summary(sel: Any) -> dict[str, Any]:
        return {
            name: {
                "expected_ctr": float(v["click"][sel].mean()),
                "expected_play_rate": float(v["quality_play"][sel].mean()),
            }
            for name, v in values.items()
        }

    out: dict[str, Any] = summary(slice(None))
    out["segments"] = {
        name: summary(stream.segment == s) for s, name in enumerate(env.segment_names) if (stream.segment == s).any()
    }
    return out


def policy_metrics(env: Environment, stream: Stream, trace: Trace, reward: str, *, floor: float) -> dict[str, Any]:
    """Everything metrics.json reports for one policy (see the README for the schema)."""
    n = stream.n
    refs = baselines(stream, reward)
    mine = _values(stream, trace.chosen)
    oracle = _values(stream, refs["oracle"])
    fixed = _values(stream, refs["best_fixed"])
    r_mine, r_oracle, r_fixed = mine[reward], oracle[reward], fixed[reward]
    last = slice(n - max(1, n // 10), n)

    def share(a: np.ndarray, b: np.ndarray) -> float:
        return float(a.sum() / b.sum()) if b.sum() > 0 else 0.0

    def lift(a: np.ndarray, b: np.ndarray) -> float:
        return float(a.sum() / b.sum() - 1.0) if b.sum() > 0 else 0.0

    m: dict[str, Any] = {
        "impressions": n,
        "clicks": int(trace.click.sum()),
        "quality_plays": int(trace.play.sum()),
        "ctr": float(trace.click.mean()),
        "quality_play_rate": float(trace.play.mean()),
        "expected_ctr": float(mine["click"].mean()),
        "expected_play_rate": float(mine["quality_play"].mean()),
        "cumulative_regret": float((r_oracle - r_mine).sum()),
        "share_of_oracle": share(r_mine, r_oracle),
        "share_of_oracle_ctr": share(mine["click"], oracle["click"]),
        "lift_over_best_fixed": lift(r_mine, r_fixed),
        "lift_over_best_fixed_ctr": lift(mine["click"], fixed["click"]),
        "final_window": {
            "impressions": last.stop - last.start,
            "expected_ctr": float(mine["click"][last].mean()),
            "expected_play_rate": float(mine["quality_play"][last].mean()),
            "share_of_oracle": share(r_mine[last], r_oracle[last]),
            "share_of_oracle_ctr": share(mine["click"][last], oracle["click"][last]),
            "lift_over_best_fixed": lift(r_mine[last], r_fixed[last]),
        },
        "late_rewards": trace.late_rewards,
    }
    # per segment; "no segment left behind" compares each segment's share of its own oracle with
    # what one artwork for everyone (best fixed) gives it, over the run and in the final window
    seg_out: dict[str, Any] = {}
    in_last = np.zeros(n, bool)
    in_last[last] = True
    for s, name in enumerate(env.segment_names):
        sel = stream.segment == s
        if not sel.any():
            continue
        fin = sel & in_last
        seg_out[name] = {
            "impressions": int(sel.sum()),
            "ctr": float(trace.click[sel].mean()),
            "expected_ctr": float(mine["click"][sel].mean()),
            "quality_play_rate": float(trace.play[sel].mean()),
            "expected_play_rate": float(mine["quality_play"][sel].mean()),
            "share_of_oracle": share(r_mine[sel], r_oracle[sel]),
            "lift_over_best_fixed": lift(r_mine[sel], r_fixed[sel]),
            "best_fixed_share_of_oracle": share(r_fixed[sel], r_oracle[sel]),
            "final_impressions": int(fin.sum()),
            "final_share_of_oracle": share(r_mine[fin], r_oracle[fin]),
            "final_best_fixed_share_of_oracle": share(r_fixed[fin], r_oracle[fin]),
        }
    m["segments"] = seg_out
    m["exposure"] = exposure_audit(env, stream, trace, floor=floor)
    m["timeseries"] = timeseries(stream, mine, oracle, trace, reward)
    m["recovery"] = recovery(env, stream, r_mine, r_oracle)
    return m


def is_starved(shown: int, available: int, floor: float) -> bool:
    """Whether a variant shown `shown` times out of `available` impressions of its title is starved:
    below the exposure floor beyond sampling noise (two binomial standard deviations), so a variant
    the policy gives exactly the floor is not flagged for drawing 0.99% of 40,000; at least 100
    impressions are needed to judge. (The simulator's audit and the service's dashboard share it.)"""
    return available >= 100 and shown < floor * available - 2.0 * float(np.sqrt(available * floor * (1.0 - floor)))


def exposure_audit(env: Environment, stream: Stream, trace: Trace, *, floor: float) -> dict[str, Any]:
    """How impressions were spread over variants: shares, Gini, exploration, starvation (shown less
    than `floor` of its title's impressions beyond sampling noise)."""
    cat = env.titleset
    K = stream.click_p.shape[1]
    titles_out: dict[str, Any] = {}
    starved: list[dict[str, Any]] = []
    ginis, weights = [], []
    seg_names = env.segment_names
    per_seg: dict[str, dict[str, dict[str, float]]] = {s: {} for s in seg_names}
    bait = 0
    for ti, title in enumerate(cat.titles):
        sel = stream.title == ti
        n_t = int(sel.sum())
        if n_t == 0:
            continue
        ch, kk = trace.chosen[sel], stream.k[sel]
        counts = np.bincount(ch, minlength=K)[: len(title.variants)]
        avail = np.array([(kk > j).sum() for j in range(len(title.variants))])
        shares = np.where(avail > 0, counts / np.maximum(avail, 1), 0.0)
        variants = {}
        for j, v in enumerate(title.variants):
            variants[v.id] = {
                "share": round(float(shares[j]), 6),
                "impressions": int(counts[j]),
                "available_impressions": int(avail[j]),
            }
            if v.clickbait:
                bait += int(counts[j])
            if is_starved(int(counts[j]), int(avail[j]), floor):
                starved.append({"variant": v.id, "title": title.id, "share": round(float(shares[j]), 6)})
        g = gini(counts / n_t)
        titles_out[title.id] = {"impressions": n_t, "gini": round(g, 6), "variants": variants}
        ginis.append(g)
        weights.append(n_t)
        segs = stream.segment[sel]
        for s, name in enumerate(seg_names):
            ss = segs == s
            if ss.any():
                c = np.bincount(ch[ss], minlength=K)[: len(title.variants)] / ss.sum()
                per_seg[name][title.id] = {v.id: round(float(c[j]), 6) for j, v in enumerate(title.variants)}
    # per segment: who gets which kind of artwork, and how much exploration/clickbait they absorb
    kinds = np.array([[v.archetype for v in t.variants] + [""] * (K - len(t.variants)) for t in cat.titles])
    baits = np.array([[v.clickbait for v in t.variants] + [False] * (K - len(t.variants)) for t in cat.titles])
    shown_kind = kinds[stream.title, trace.chosen]
    shown_bait = baits[stream.title, trace.chosen]
    seg_summary: dict[str, Any] = {}
    for s, name in enumerate(seg_names):
        ss = stream.segment == s
        if not ss.any():
            continue
        names, counts = np.unique(shown_kind[ss], return_counts=True)
        seg_summary[name] = {
            "impressions": int(ss.sum()),
            "explored_share": float(trace.explored[ss].mean()),
            "clickbait_share": float(shown_bait[ss].mean()),
            "archetypes": {str(k): round(float(c / ss.sum()), 6) for k, c in zip(names, counts)},
        }
    return {
        "gini": float(np.average(ginis, weights=weights)) if ginis else 0.0,
        "explored_share": float(trace.explored.mean()),
        "clickbait_share": bait / stream.n,
        "floor": floor,
        "starved": starved,
        "titles": titles_out,
        "segments": per_seg,
        "segment_summary": seg_summary,
    }


def timeseries(
    stream: Stream, mine: dict[str, np.ndarray], oracle: dict[str, np.ndarray], trace: Trace, reward: str
) -> dict[str, list]:
    """Cumulative CTR/regret and windowed share of oracle at N_POINTS checkpoints."""
    n = stream.n
    idx = np.unique(np.linspace(0, n - 1, min(N_POINTS, n)).astype(int))
    t = idx + 1
    clicks = _series(trace.click.astype(float), idx)
    regret = _series(oracle[reward] - mine[reward], idx)
    exp_ctr = _series(mine["click"], idx)
    return {
        "t": t.tolist(),
        "cumulative_ctr": [round(c / x, 6) for c, x in zip(clicks, t)],
        "cumulative_expected_ctr": [round(c / x, 6) for c, x in zip(exp_ctr, t)],
        "cumulative_regret": regret,
        "window_share_of_oracle": _window_share(mine[reward], oracle[reward], min(50, n)),
    }


def recovery(env: Environment, stream: Stream, r_mine: np.ndarray, r_oracle: np.ndarray) -> dict[str, Any]:
    """Share of oracle just before/after a change and at the end (drift, cold start)."""
    sc, n = env.scenario, stream.n
    w = max(1, n // 10)
    out: dict[str, Any] = {}

    def share(sel) -> float:
        d = r_oracle[sel].sum()
        return float(r_mine[sel].sum() / d) if d > 0 else 0.0

    if sc.drift_at is not None:
        d = int(np.ceil(sc.drift_at * n))
        out["drift"] = {
            "at": d,
            "before": share(slice(max(0, d - w), d)),
            "just_after": share(slice(d, min(n, d + w))),
            "end": share(slice(n - w, n)),
        }
    if sc.late_titles or sc.late_variants:
        a = int(np.ceil(sc.arrive_at * n))
        late = np.array([t.arrive > 0 for t in env.titleset.titles])
        new = late[stream.title]
        pos = np.arange(n)
        first = new & (pos >= a) & (pos < min(n, a + w))
        end = new & (pos >= n - w)
        out["cold_start"] = {
            "at": a,
            "new_titles_just_after": share(first),
            "new_titles_end": share(end),
            "old_titles_end": share(~new & (pos >= n - w)),
        }
    return out
