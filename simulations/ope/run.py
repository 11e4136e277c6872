"""run_replay: stream a log, replay target policies through it, estimate, write replay.json + report.html."""
from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from safeio.errors import OutputFolderError
from safeio.outdir import OutputFolder
from simulations import plotstyle
from simulations.ope.columnar import COLUMNAR
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


DEFAULT_POLICIES: tuple[str, ...] = ("logged", "uniform", "best-fixed")


def evaluate_log(
    log: str | Path | LogSource,
    policies: Sequence[Any] = DEFAULT_POLICIES,
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
    max_bad_lines: int = 0,
    on_events: Callable[[int], None] | None = None,
) -> dict:
    """The replay results as a dict (the content of replay.json), without writing anything.

    Policies that need no per-event model (logged, uniform, best-fixed) with estimators that need no
    reward model (replay, ips, snips) are scored over columns in one pass (simulations.ope.columnar);
    otherwise every event is replayed through the policies in order (progressive.score_chunk).
    on_events(n) is called after each chunk of each pass over the log (passes_needed() of them).
    max_bad_lines: malformed lines skipped and counted (reported in log.bad_lines) before stopping.
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
    source = log if isinstance(log, LogSource) else open_log(log, fmt, mapping, chunk_size=chunk_size,
                                                              max_bad_lines=max_bad_lines)
    need_model = "dm" in estimators or "dr" in estimators
    if not need_model and all(isinstance(p, str) and p in COLUMNAR for p in policies):
        names = _distinct([str(p) for p in policies])
        position, base, per_policy = _columnar_pass(source, list(policies), seed, on_events)
    else:
        position, base, per_policy, names = _progressive_passes(
            source, policies, need_model, seed, learn_on, on_events)
    if position == 0:
        raise OPEError(f"{source.path}: the log has no usable events")

    results = []
    for name, arrays in zip(names, per_policy):
        data = OPEArrays(**arrays, **base)
        ests = {
            est: estimate(est, data, confidence=confidence, bootstrap=bootstrap, seed=seed).to_dict()
            for est in estimators
        }
        curve: dict[str, list] = {}
        for est in estimators:
            ks, vals = cumulative_curve(est, data, curve_points)
            curve["events"] = ks
            curve[est] = vals
        results.append({"name": name, "estimates": ests, "curve": curve})
    return {
        "schema": SCHEMA,
        "log": {
            "path": str(source.path),
            "format": source.format,
            "events": int(position),
            "logged_reward_mean": float(base["reward"].mean()),
            "notes": list(source.notes),
            "bad_lines": source.bad_lines.to_dict(),
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


def _distinct(names: list[str]) -> list[str]:
    """Two runs of the same spec need distinct names: the second is 'spec#2'."""
    return [f"{n}#{names[: i + 1].count(n)}" if names.count(n) > 1 else n for i, n in enumerate(names)]


def _columnar_pass(source: LogSource, policies: list[str], seed: int,
                   on_events: Callable[[int], None] | None) -> tuple[int, dict, list[dict]]:
    """One pass collecting the log's columns; every policy scored over them (no events built)."""
    from simulations.ope.columnar import ColumnCollector, score

    rng = np.random.default_rng(seed)
    collector = ColumnCollector()
    for batch in source.batches(need_events=False):
        collector.add(batch, rng.random(len(batch)))  # the same uniforms per chunk as the event path
        if on_events:
            on_events(len(batch))
    cols = collector.columns()
    base = dict(reward=cols.reward, logged_p=cols.probability, n_candidates=cols.n_candidates, q_logged=None)
    per_policy = []
    for spec in policies:
        target, matched, zero = score(spec, cols)
        per_policy.append(dict(target_p=target, matched=matched, dm=None, zero_support=zero))
    return collector.n, base, per_policy


def _progressive_passes(source: LogSource, policies: Sequence[Any], need_model: bool, seed: int, learn_on: str,
                        on_events: Callable[[int], None] | None) -> tuple[int, dict, list[dict], list[str]]:
    """Events replayed through every policy in order (a first pass fits the reward model and best-fixed)."""
    slots: list = []
    try:
        for spec in policies:
            slots.append(resolve_policy(spec, seed=seed))
    except BaseException:  # a bad spec after good ones: close what was already built
        for s in slots:
            if s.owned and hasattr(s.policy, "close"):
                s.policy.close()
        raise
    names = _distinct([s.name for s in slots])
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
        return 0, {}, [], names
    base = dict(
        reward=np.concatenate(rewards),
        logged_p=np.concatenate(logged_p),
        n_candidates=np.concatenate(n_cand),
        q_logged=np.concatenate(q_logged) if q_logged else None,
    )
    per_policy = [
        dict(target_p=np.concatenate(s.target_p), matched=np.concatenate(s.matched),
             dm=np.concatenate(s.dm) if s.dm else None, zero_support=np.concatenate(s.zero_support))
        for s in slots
    ]
    return position, base, per_policy, names


def passes_needed(policies: Sequence[Any], estimators: Sequence[str]) -> int:
    """Passes over the log: one, plus one for the reward model (dm/dr) or, when events are replayed,
    best-fixed's action values."""
    if "dm" in estimators or "dr" in estimators:
        return 2
    columnar = all(isinstance(p, str) and p in COLUMNAR for p in policies)
    return 2 if not columnar and any(p == "best-fixed" for p in policies) else 1


def run_replay(
    log: str | Path | LogSource,
    policies: Sequence[Any] = DEFAULT_POLICIES,
    estimators: Sequence[str] = ("snips", "dr"),
    out_dir: str | Path | None = None,
    *,
    force: bool = False,
    **options: Any,
) -> dict:
    """Evaluate `policies` on `log` with `estimators`; write OUT/replay.json and OUT/report.html if out_dir.

    Options are those of evaluate_log (fmt, mapping, bootstrap, confidence, seed, learn_on, chunk_size,
    curve_points, max_bad_lines, on_events). OUT is checked before the log is read
    (safeio.OutputFolder): it may not be or hold the log, a folder artbandit did not write is never
    replaced, and an earlier replay output is replaced only with force; the new folder is built
    aside and swapped in whole.
    """
    folder = None
    if out_dir is not None:
        folder = _output_folder(log, policies, estimators, out_dir, options)
        try:
            state = folder.check(force=force)
        except OutputFolderError as exc:
            raise OPEError(str(exc)) from None
        if state == "same":
            raise OPEError(f"{out_dir}: already holds this replay's output; use --force to replace it")
    result = evaluate_log(log, policies, estimators, **options)
    if folder is not None:
        from safeio.atomic import atomic_dir

        with atomic_dir(folder.path) as staging:
            (staging / "replay.json").write_text(json.dumps(json_safe(result), indent=2) + "\n", "utf-8")
            write_html_report(result, staging / "report.html")
            folder.write_marker(staging)
    return result


def _output_folder(log: Any, policies: Sequence[Any], estimators: Sequence[str], out_dir: str | Path,
                   options: dict) -> OutputFolder:
    path = log.path if isinstance(log, LogSource) else Path(log)
    mapping = options.get("mapping") or (log.mapping if isinstance(log, LogSource) else None)
    inputs = [path] + ([mapping.action_features] if mapping is not None and mapping.action_features else [])
    key = {"log": str(Path(path).resolve()), "policies": [str(p) for p in policies],
           "estimators": list(estimators), "seed": options.get("seed", 0)}
    return OutputFolder(Path(out_dir), "replay", inputs, key)


def json_safe(obj: Any) -> Any:
    """NaN/inf become null so replay.json is strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [json_safe(v) for v in obj]
    return obj


# Estimator markers in the estimates chart: colour says which policy (as in every report), shape
# says which estimator.
_MARKERS = {"replay": "v", "ips": "s", "snips": "o", "dm": "^", "dr": "D"}


@plotstyle.styled
def _estimates_figure(result: dict):
    """Each policy's estimates with their intervals, policy colours, one marker per estimator."""
    pols = result["policies"]
    ests = result["settings"]["estimators"]
    conf = result["settings"]["confidence"]
    fig, ax = plotstyle.figure(width=max(5.5, 1.6 * len(pols) + 3.5), height=4.0)
    width = 0.8 / len(ests)
    for j, name in enumerate(ests):
        for i, p in enumerate(pols):
            e = p["estimates"][name]
            value = e["value"] if e["value"] is not None and np.isfinite(e["value"]) else np.nan
            lo = value - e["low"] if e["low"] is not None and np.isfinite(e["low"]) else 0
            hi = e["high"] - value if e["high"] is not None and np.isfinite(e["high"]) else 0
            ax.errorbar([i + (j - (len(ests) - 1) / 2) * width], [value], yerr=[[lo], [hi]],
                        fmt=_MARKERS.get(name, "o"), ms=7, capsize=4, color=plotstyle.policy_colour(p["name"]))
    ax.axhline(result["log"]["logged_reward_mean"], **plotstyle.REFERENCE_STYLES["logging policy"])
    ax.set_xticks(range(len(pols)), [p["name"] for p in pols])
    if len(pols) * max(len(p["name"]) for p in pols) > 60:  # long names: slant them, never overlap
        ax.tick_params(axis="x", labelrotation=20)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    ax.set_ylabel("estimated reward per event")
    ax.set_title(f"Estimates with {conf:.0%} intervals")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color="#444444", marker=_MARKERS.get(n, "o"), ls="", label=n.upper()) for n in ests]
    handles.append(Line2D([], [], label="logging policy (mean logged reward)",
                          **plotstyle.REFERENCE_STYLES["logging policy"]))
    plotstyle.legend(ax, handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="x", visible=False)
    return fig


@plotstyle.styled
def _curves_figure(result: dict):
    """Each estimator's running estimate over the first k events, one line per policy."""
    pols = result["policies"]
    ests = result["settings"]["estimators"]
    curve_ests = [e for e in ests if e != "dm"] or ests
    fig, axes = plotstyle.figure(1, len(curve_ests), width=min(plotstyle.PAGE_WIDTH_IN, 4.6 * len(curve_ests) + 1),
                                 height=3.9, squeeze=False)
    for ax, name in zip(axes[0], curve_ests):
        for p in pols:
            ax.plot(p["curve"]["events"], [np.nan if v is None else v for v in p["curve"][name]],
                    color=plotstyle.policy_colour(p["name"]), label=p["name"])
        ax.set_title(f"{name.upper()} over the first k events")
        ax.set_xlabel("events replayed (k)")
        plotstyle.count_axis(ax.xaxis)
    axes[0][0].set_ylabel("estimated reward per event")
    handles, labels = axes[0][0].get_legend_handles_labels()
    plotstyle.legend(fig, handles=handles, labels=labels, loc="outside lower center", ncols=min(4, len(pols)))
    return fig


def write_html_report(result: dict, path: Path) -> None:
    """Estimates with intervals as a chart, the diagnostics table and the learning curves.

    Policy names, the log path, notes and warnings come from the user: all are escaped."""
    from simulations.htmlreport import html_table, img_tag, write_report

    pols = result["policies"]
    ests = result["settings"]["estimators"]
    conf = result["settings"]["confidence"]
    chart = img_tag(_estimates_figure(result), "estimates with intervals")

    rows = []
    for p in pols:
        for name in ests:
            e = p["estimates"][name]
            d = e["diagnostics"]
            zs = d["zero_support_share"]
            rows.append([
                p["name"], name, e["value"], e["low"], e["high"], d["events_used"], round(d["ess"], 1),
                d["max_weight"], d["mean_weight"], "-" if zs is None else plotstyle.format_percent(zs, digits=2),
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
    curves = img_tag(_curves_figure(result), "learning curves")

    log = result["log"]
    summary = (
        f"<p>Log <code>{html.escape(log['path'])}</code> ({html.escape(log['format'])}), "
        f"{log['events']:,} events, logged mean reward {plotstyle.format_number(log['logged_reward_mean'])}. "
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
