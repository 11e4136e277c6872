"""replay's report.html: the estimates chart, the diagnostics table, warnings and the learning curves.

Apart from simulations.ope.replay because it imports matplotlib (~0.5 s): replay_log and
`artbandit replay --help` never pay for it, and the CLI imports it on a background thread while the
log is read (artbandit.cli.replay).
"""

from __future__ import annotations

import html
import io
import threading
from pathlib import Path

import numpy as np

from simulations.reports import plotstyle

# matplotlib is not thread-safe: warm_up (on the CLI's background thread) and the report never draw at once.
_DRAWING = threading.Lock()


def warm_up() -> None:
    """Draw and save a tiny figure in the report style, so fonts, text layout and the PNG writer are
    loaded: the first figure of a process pays ~0.5-1 s for them, which the CLI spends on a
    background thread while the log is read instead of after it."""
    import matplotlib.pyplot as plt

    with _DRAWING, plotstyle.style():
        fig, ax = plotstyle.figure(width=2.0, height=1.5)
        ax.errorbar([0], [0], yerr=[[1], [1]], fmt="o", capsize=4, label="x")
        ax.set_title("x")
        ax.set_xlabel("x")
        plotstyle.count_axis(ax.xaxis)
        plotstyle.legend(ax)
        fig.savefig(io.BytesIO(), format="png")
        plt.close(fig)


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
    logged_mean = result["log"]["logged_reward_mean"]
    drawn: list[tuple[float, float, float, float, bool]] = []  # x, value, low, high, hindsight
    for j, name in enumerate(ests):
        for i, p in enumerate(pols):
            e = p["estimates"][name]
            value = e["value"] if e["value"] is not None and np.isfinite(e["value"]) else np.nan
            low = e["low"] if e["low"] is not None and np.isfinite(e["low"]) else value
            high = e["high"] if e["high"] is not None and np.isfinite(e["high"]) else value
            x = i + (j - (len(ests) - 1) / 2) * width
            hindsight = plotstyle.is_hindsight_reference(p["name"])
            ax.errorbar(
                [x],
                [value],
                yerr=[[max(0.0, value - low)], [max(0.0, high - value)]],
                fmt=_MARKERS.get(name, "o"),
                ms=7,
                capsize=4,
                color=plotstyle.policy_colour(p["name"]),
                alpha=0.55 if hindsight else 1.0,
            )
            drawn.append((x, value, low, high, hindsight))
    ax.axhline(logged_mean, **plotstyle.REFERENCE_STYLES["logging policy"])
    plotstyle.limit_to_candidates(ax, drawn, extra=[logged_mean])
    ax.set_xticks(
        range(len(pols)),
        [p["name"] + (" (hindsight)" if plotstyle.is_hindsight_reference(p["name"]) else "") for p in pols],
    )
    if len(pols) * max(len(p["name"]) for p in pols) > 60:  # long names: slant them, never overlap
        ax.tick_params(axis="x", labelrotation=20)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    ax.set_ylabel("estimated reward per event")
    ax.set_title(f"Estimates with {conf:.0%} intervals")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color="#444444", marker=_MARKERS.get(n, "o"), ls="", label=n.upper()) for n in ests]
    handles.append(
        Line2D([], [], label="logging policy (mean logged reward)", **plotstyle.REFERENCE_STYLES["logging policy"])
    )
    plotstyle.legend(ax, handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="x", visible=False)
    return fig


@plotstyle.styled
def _curves_figure(result: dict):
    """Each estimator's running estimate over the first k events, one line per policy."""
    pols = result["policies"]
    ests = result["settings"]["estimators"]
    curve_ests = [e for e in ests if e != "dm"] or ests
    fig, axes = plotstyle.figure(
        1, len(curve_ests), width=min(plotstyle.PAGE_WIDTH_IN, 4.6 * len(curve_ests) + 1), height=3.9, squeeze=False
    )
    for ax, name in zip(axes[0], curve_ests):
        drawn = []  # the candidates' curves fit the axis; a hindsight reference's is cut at its edge
        for p in pols:
            ys = np.array([np.nan if v is None else v for v in p["curve"][name]], dtype=np.float64)
            hindsight = plotstyle.is_hindsight_reference(p["name"])
            ax.plot(
                p["curve"]["events"],
                ys,
                color=plotstyle.policy_colour(p["name"]),
                label=p["name"] + (" (hindsight)" if hindsight else ""),
                alpha=0.55 if hindsight else 1.0,
            )
            finite = ys[np.isfinite(ys)]
            if len(finite):
                drawn.append(
                    (p["curve"]["events"][-1], float(finite[-1]), float(finite.min()), float(finite.max()), hindsight)
                )
        plotstyle.limit_to_candidates(ax, drawn, annotate=False)
        ax.set_title(f"{name.upper()} over the first k events")
        ax.set_xlabel("events replayed")
        plotstyle.count_axis(ax.xaxis)
    axes[0][0].set_ylabel("estimated reward per event")
    handles, labels = axes[0][0].get_legend_handles_labels()
    plotstyle.legend(fig, handles=handles, labels=labels, loc="outside lower center", ncols=min(4, len(pols)))
    return fig


def write_html_report(result: dict, path: Path) -> None:
    """Estimates with intervals as a chart, the diagnostics table and the learning curves.

    Policy names, the log path, notes and warnings come from the user: all are escaped."""
    with _DRAWING:
        _write_html_report(result, path)


def _write_html_report(result: dict, path: Path) -> None:
    from simulations.reports.htmlreport import html_table, img_tag, write_report

    pols = result["policies"]
    ests = result["settings"]["estimators"]
    conf = result["settings"]["confidence"]
    chart = img_tag(_estimates_figure(result), "estimates with intervals", tight=False)

    rows = []
    for p in pols:
        for name in ests:
            e = p["estimates"][name]
            d = e["diagnostics"]
            zs = d["zero_support_share"]
            rows.append(
                [
                    p["name"],
                    name,
                    e["value"],
                    e["low"],
                    e["high"],
                    d["events_used"],
                    int(round(d["ess"])),
                    d["max_weight"],
                    d["mean_weight"],
                    "-" if zs is None else plotstyle.format_percent(zs, digits=2),
                ]
            )
    table = html_table(
        [
            "policy",
            "estimator",
            "value",
            "low",
            "high",
            "events used",
            "ESS",
            "max weight",
            "mean weight",
            "zero support",
        ],
        rows,
    )
    warn_items = [
        f"<li><b>{html.escape(p['name'])}</b> / {html.escape(name)}: {html.escape(w)}</li>"
        for p in pols
        for name in ests
        for w in p["estimates"][name]["warnings"]
    ]
    warn_items += [f"<li>{html.escape(n)}</li>" for n in result["log"]["notes"]]
    warnings = f'<ul class="flag">{"".join(warn_items)}</ul>' if warn_items else "<p>None.</p>"
    curves = img_tag(_curves_figure(result), "learning curves", tight=False)

    log = result["log"]
    summary = (
        f"<p>Log <code>{html.escape(log['path'])}</code> ({html.escape(log['format'])}), "
        f"events: {log['events']:,}; logged mean reward {plotstyle.format_number(log['logged_reward_mean'])}. "
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
