"""run_replay: stream a log, replay target policies through it, estimate, write replay.json + report.html."""
from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from simulations.ope.errors import OPEError
from simulations.ope.estimators import ESTIMATORS, OPEArrays, cumulative_curve, estimate
from simulations.ope.progressive import (
    LEARN_ON,
    ActionValueTally,
    BestFixedPolicy,
    resolve_policy,
    score_chunk,
)
from simulations.ope.readers import ColumnMapping, LogSource, open_log

SCHEMA = "artbandit.replay/1"


def evaluate_log(
    log: str | Path | LogSource,
    policies: Sequence[Any],
    estimators: Sequence[str] = ("snips", "dr"),
    *,
    fmt: str = "auto",
    mapping: ColumnMapping | None = None,
    bootstrap: int = 0,
    confidence: float = 0.95,
    seed: int = 0,
    learn_on: str = "all",
    chunk_size: int = 10_000,
    curve_points: int = 100,
    on_events: Callable[[int], None] | None = None,
) -> dict:
    """The replay results as a dict (the content of replay.json), without writing anything.

    on_events(n) is called after each chunk of each pass over the log (passes_needed() of them).
    """
    estimators = list(dict.fromkeys(estimators))
    for name in estimators:
        if name not in ESTIMATORS:
            raise OPEError(f"unknown estimator {name!r}; valid: {', '.join(ESTIMATORS)}")
    if not estimators:
        raise OPEError("no estimator given; valid: " + ", ".join(ESTIMATORS))
    if learn_on not in LEARN_ON:
        raise OPEError(f"learn_on must be one of {', '.join(LEARN_ON)}, not {learn_on!r}")
    if not policies:
        raise OPEError("no policy to evaluate; give at least one --policy")
    source = log if isinstance(log, LogSource) else open_log(log, fmt, mapping, chunk_size=chunk_size)
    slots: list = []
    try:
        for spec in policies:
            slots.append(resolve_policy(spec, seed=seed))
    except BaseException:  # a bad spec after good ones: close what was already built
        for s in slots:
            if s.owned and hasattr(s.policy, "close"):
                s.policy.close()
        raise
    names = [s.name for s in slots]
    for i, s in enumerate(slots):  # two runs of the same spec need distinct names
        if names.count(s.name) > 1:
            s.name = f"{s.name}#{names[: i + 1].count(s.name)}"

    need_model = "dm" in estimators or "dr" in estimators
    need_tally = any(s.needs_tally for s in slots)
    model = None
    try:
        if need_model or need_tally:  # first pass: the cross-fitted reward model and hindsight action values
            tally = ActionValueTally()
            if need_model:
                from simulations.ope.rewardmodel import CrossFitRewardModel

                model = CrossFitRewardModel(seed=seed)
            position = 0
            for chunk in source.chunks():
                for ev in chunk:
                    if model is not None:
                        model.learn(position, ev)
                    if need_tally:
                        tally.add(ev)
                    position += 1
                if on_events:
                    on_events(len(chunk))
            for s in slots:
                if s.needs_tally:
                    s.policy = BestFixedPolicy(tally.values())

        rng = np.random.default_rng(seed)
        rewards, logged_p, n_cand, q_logged = [], [], [], []
        position = 0
        for chunk in source.chunks():
            n = len(chunk)
            rewards.append(np.fromiter((e.reward for e in chunk), np.float64, n))
            logged_p.append(np.fromiter((e.probability for e in chunk), np.float64, n))
            n_cand.append(np.fromiter((len(e.action_ids) for e in chunk), np.int32, n))
            q_hat = None
            if model is not None:
                q_hat = [model.predict(position + i, ev) for i, ev in enumerate(chunk)]
                q_logged.append(np.array([q[ev.chosen_index] for q, ev in zip(q_hat, chunk)]))
            score_chunk(slots, chunk, rng.random(n), q_hat, learn_on)
            position += n
            if on_events:
                on_events(n)
    finally:
        if model is not None:
            model.close()
        for s in slots:
            close = getattr(s.policy, "close", None) if s.owned else None
            if close:
                try:
                    close()
                except Exception:  # noqa: BLE001 - closing must not hide the real result or error
                    pass
    if position == 0:
        raise OPEError(f"{source.path}: the log has no usable events")

    reward = np.concatenate(rewards)
    base = dict(
        reward=reward,
        logged_p=np.concatenate(logged_p),
        n_candidates=np.concatenate(n_cand),
        q_logged=np.concatenate(q_logged) if q_logged else None,
    )
    results = []
    for s in slots:
        data = OPEArrays(
            target_p=np.concatenate(s.target_p),
            matched=np.concatenate(s.matched),
            dm=np.concatenate(s.dm) if s.dm else None,
            zero_support=np.concatenate(s.zero_support),
            **base,
        )
        ests = {
            name: estimate(name, data, confidence=confidence, bootstrap=bootstrap, seed=seed).to_dict()
            for name in estimators
        }
        curve: dict[str, list] = {}
        for name in estimators:
            ks, vals = cumulative_curve(name, data, curve_points)
            curve["events"] = ks
            curve[name] = vals
        results.append({"name": s.name, "estimates": ests, "curve": curve})
    return {
        "schema": SCHEMA,
        "log": {
            "path": str(source.path),
            "format": source.format,
            "events": int(position),
            "logged_reward_mean": float(reward.mean()),
            "notes": list(source.notes),
        },
        "settings": {
            "estimators": estimators,
            "bootstrap": bootstrap,
            "confidence": confidence,
            "seed": seed,
            "learn_on": learn_on,
            "reward_model": "VW squared-loss regression (-q cA), 2-fold cross-fitted" if need_model else None,
        },
        "policies": results,
    }


def passes_needed(policies: Sequence[Any], estimators: Sequence[str]) -> int:
    """Passes over the log: one, plus one for the reward model (dm/dr) or best-fixed's action values."""
    extra = "dm" in estimators or "dr" in estimators or any(p == "best-fixed" for p in policies)
    return 2 if extra else 1


def run_replay(
    log: str | Path | LogSource,
    policies: Sequence[Any],
    estimators: Sequence[str] = ("snips", "dr"),
    out_dir: str | Path | None = None,
    **options: Any,
) -> dict:
    """Evaluate `policies` on `log` with `estimators`; write OUT/replay.json and OUT/report.html if out_dir.

    Options are those of evaluate_log (fmt, mapping, bootstrap, confidence, seed, learn_on, chunk_size,
    curve_points, on_events).
    """
    result = evaluate_log(log, policies, estimators, **options)
    if out_dir is not None:
        from safeio.atomic import write_text_atomic

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out / "replay.json", json.dumps(json_safe(result), indent=2) + "\n")
        write_html_report(result, out / "report.html")
    return result


def json_safe(obj: Any) -> Any:
    """NaN/inf become null so replay.json is strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [json_safe(v) for v in obj]
    return obj


def write_html_report(result: dict, path: Path) -> None:
    """Estimates with intervals as a chart, the diagnostics table and the learning curves."""
    import matplotlib.pyplot as plt

    from simulations.htmlreport import html_table, img_tag, write_report

    pols = result["policies"]
    ests = result["settings"]["estimators"]
    conf = result["settings"]["confidence"]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(pols) * len(ests)), 3.8))
    width = 0.8 / len(ests)
    for j, name in enumerate(ests):
        xs, ys, lo, hi = [], [], [], []
        for i, p in enumerate(pols):
            e = p["estimates"][name]
            xs.append(i + (j - (len(ests) - 1) / 2) * width)
            ys.append(e["value"])
            lo.append(e["value"] - e["low"] if np.isfinite(e["low"]) else 0)
            hi.append(e["high"] - e["value"] if np.isfinite(e["high"]) else 0)
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o", capsize=4, label=name)
    ax.axhline(result["log"]["logged_reward_mean"], color="grey", ls=":", lw=1, label="logging policy")
    ax.set_xticks(range(len(pols)), [p["name"] for p in pols], rotation=15)
    ax.set_ylabel("estimated reward per event")
    ax.set_title(f"Estimates with {conf:.0%} intervals")
    ax.legend(fontsize=8)
    chart = img_tag(fig, "estimates with intervals")

    rows = []
    for p in pols:
        for name in ests:
            e = p["estimates"][name]
            d = e["diagnostics"]
            zs = d["zero_support_share"]
            rows.append([
                p["name"], name, e["value"], e["low"], e["high"], d["events_used"], round(d["ess"], 1),
                d["max_weight"], d["mean_weight"], "-" if zs is None else f"{zs:.2%}",
            ])
    table = html_table(
        ["policy", "estimator", "value", "low", "high", "events used", "ESS", "max weight", "mean weight",
         "zero support"],
        rows,
    )
    warn_items = [
        f"<li><b>{html.escape(p['name'])}</b> / {html.escape(name)}: {html.escape(w)}</li>"
        for p in pols for name in ests for w in p["estimates"][name]["warnings"]
    ]
    warn_items += [f"<li>{html.escape(n)}</li>" for n in result["log"]["notes"]]
    warnings = f'<ul class="flag">{"".join(warn_items)}</ul>' if warn_items else "<p>None.</p>"

    curve_ests = [e for e in ests if e != "dm"] or ests
    fig, axes = plt.subplots(1, len(curve_ests), figsize=(4.4 * len(curve_ests), 3.4), squeeze=False,
                             constrained_layout=True)
    for ax, name in zip(axes[0], curve_ests):
        for p in pols:
            ax.plot(p["curve"]["events"], [np.nan if v is None else v for v in p["curve"][name]], label=p["name"])
        ax.set_title(f"{name}: estimate over the first k events")
        ax.set_xlabel("events replayed")
        ax.set_ylabel("replayed reward (CTR)")
    axes[0][0].legend(fontsize=8)
    curves = img_tag(fig, "learning curves")

    log = result["log"]
    summary = (
        f"<p>Log <code>{html.escape(log['path'])}</code> ({html.escape(log['format'])}), "
        f"{log['events']} events, logged mean reward {log['logged_reward_mean']:.4f}. "
        f"Intervals: {html.escape(str(result['policies'][0]['estimates'][ests[0]]['interval']))}, "
        f"{conf:.0%}. Policies learn on: {html.escape(result['settings']['learn_on'])} events.</p>"
    )
    write_report(
        path,
        "artbandit replay: off-policy evaluation",
        [
            ("Summary", summary + chart),
            ("Diagnostics", table),
            ("Warnings", warnings),
            ("Learning curves", curves),
        ],
    )
