"""report.html of `evaluate`: leaderboard with intervals, the winner and the one-line recommendation,
estimates over time with detected change points, feature importance. Every user string is escaped
(policy specs, log paths, feature names come from users)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from simulations.reports import plotstyle


def write_evaluation_report(result: dict[str, Any], path: str | Path) -> None:
    import matplotlib.pyplot as plt

    from simulations.ope.evaluate import leaderboard
    from simulations.reports.htmlreport import html_table, img_tag, write_report

    conf = result["settings"]["confidence"]
    pols = [p for p in result["policies"] if "error" not in p]
    board_rows = leaderboard(result["policies"])  # best first; references placed by value, never ranked
    ranked = [p for _, p in board_rows]
    dec = result["decision"]
    rows = []
    for rank, p in board_rows:
        s, d = p["estimates"]["snips"], p["estimates"]["dr"]
        rows.append(
            [
                "ref" if rank is None else rank,
                p["name"] + (" (reference)" if rank is None else ""),
                d["value"],
                f"[{d['low']:.4f}, {d['high']:.4f}]",
                s["value"],
                f"[{s['low']:.4f}, {s['high']:.4f}]",
                _whole(d["diagnostics"]["ess"]),
                d["diagnostics"]["max_weight"],
            ]
        )
    board = html_table(
        ["#", "policy", "DR", f"DR {conf:.0%} interval", "SNIPS", f"SNIPS {conf:.0%} interval", "ESS", "max weight"],
        rows,
    )
    errors = [p for p in result["policies"] if "error" in p]
    if errors:
        board += (
            '<ul class="flag">'
            + "".join(f"<li>{html.escape(p['name'])}: {html.escape(p['error'])}</li>" for p in errors)
            + "</ul>"
        )

    fig, ax = plt.subplots(figsize=(8, 0.45 * len(ranked) + 1.2))
    drawn = []
    for i, p in enumerate(reversed(ranked)):
        d = p["estimates"]["dr"]
        colour = "tab:green" if p["name"] == dec.get("winner") else ("grey" if p["reference"] else "tab:blue")
        ax.errorbar(
            [d["value"]],
            [i],
            xerr=[[max(0.0, d["value"] - d["low"])], [max(0.0, d["high"] - d["value"])]],
            fmt="o",
            color=colour,
            capsize=3,
        )
        drawn.append((i, d["value"], d["low"], d["high"], plotstyle.is_hindsight_reference(p["name"])))
    plotstyle.limit_to_candidates(ax, drawn, vertical=False)
    ax.set_yticks(range(len(ranked)), [p["name"] for p in reversed(ranked)], fontsize=8)
    ax.set_xlabel(f"estimated reward per event (DR, {conf:.0%} interval)")
    chart = img_tag(fig, "leaderboard")

    verdict = (
        f"<p><b>{html.escape(dec['recommendation'])}</b></p>"
        f"<p>Winner: <code>{html.escape(str(dec.get('winner')))}</code>; clearly better than the "
        f"current (logged) policy: {'yes' if dec.get('clearly_better') else 'no'}"
        + (
            f"; paired DR difference {dec['difference']['value']:+.4f} "
            f"[{dec['difference']['low']:+.4f}, {dec['difference']['high']:+.4f}]"
            if "difference" in dec
            else ""
        )
        + ".</p>"
    )

    drift = result.get("drift") or {}
    fig, ax = plt.subplots(figsize=(9, 3.6), constrained_layout=True)
    top = [p for p in ranked if not p["reference"]][:5] + [p for p in pols if p["name"] == "logged"]
    for p in top:
        ax.plot(p["curve"]["events"], [np.nan if v is None else v for v in p["curve"]["dr"]], label=p["name"])
    for c in drift.get("overall", []):
        ax.axvline(c["event"], color="red", ls="--", lw=1)
    for c in drift.get("logged", []):
        ax.axvline(c["event"], color="purple", ls="-.", lw=1.5)
    ax.set_xlabel(
        "events replayed (time order); red: detected change in the logged reward"
        + ("; purple: drift the live policy logged" if drift.get("logged") else "")
    )
    ax.set_ylabel("DR estimate over the first k events")
    ax.legend(fontsize=7)
    curves = img_tag(fig, "estimates over time")
    brows = []
    for p in top:
        for b in p["buckets"]["dr"]:
            brows.append([p["name"], f"{b['start']}-{b['end']}", b["value"], b["low"], b["high"]])
    buckets = html_table(["policy", "events", "DR", "low", "high"], brows)
    changes = [
        f"<li>overall: event {c['event']} ({html.escape(c['direction'])}, mean "
        f"{c['mean_before']:.4f} -> {c['mean_after']:.4f})</li>"
        for c in drift.get("overall", [])
    ]
    for title, cs in drift.get("titles", {}).items():
        changes += [f"<li>{html.escape(title)}: event {c['event']} ({html.escape(c['direction'])})</li>" for c in cs]
    changes += [
        f"<li>live policy (logged): event {c['event']}, {html.escape(c['direction'])}, evidence "
        f"{c['statistic']:.1f} &gt; {c['threshold']:.1f}; floor {c['floor']:.3f} for {c['boost_events']} "
        "events</li>"
        for c in drift.get("logged", [])
    ]
    drift_html = f"<ul>{''.join(changes)}</ul>" if changes else "<p>No change detected in the logged reward.</p>"

    sections = [
        ("Recommendation", verdict),
        ("Leaderboard", board + chart),
        (
            "Over time",
            curves + drift_html + "<details><summary>Estimates by time bucket</summary>" + buckets + "</details>",
        ),
    ]
    imp = result.get("importance")
    if imp and "groups" in imp:
        irows = [
            [g["kind"], g["name"], g.get("drop", float("nan")), g.get("low", float("nan")), g.get("high", float("nan"))]
            for g in imp["groups"]
        ]
        body = (
            f"<p>Policy <code>{html.escape(imp['policy'])}</code> replayed without each group; drop in DR "
            f"value (paired {conf:.0%} interval). Positive: the feature helps.</p>"
            + html_table(["kind", "feature", "drop", "low", "high"], irows)
        )
        grouping = imp.get("grouping") or {}
        split = {g: cols for g, cols in grouping.items() if "/" in g or len(cols) > 1}
        if split:
            body += (
                "<p>Groups (a flat log's columns are grouped by prefix): "
                + "; ".join(
                    f"<code>{html.escape(g)}</code> = "
                    + html.escape(", ".join(cols[:6]))
                    + (f", ... ({len(cols)} columns)" if len(cols) > 6 else "")
                    for g, cols in split.items()
                )
                + "</p>"
            )
        if imp["id_like"]:
            body += (
                '<p class="flag">Look like ids or timestamps (very many distinct values; they rarely '
                "generalise and can re-identify people): " + ", ".join(html.escape(k) for k in imp["id_like"]) + "</p>"
            )
        sections.append(("Feature importance", body))
    log = result["log"]
    sections.append(
        (
            "Log",
            f"<p><code>{html.escape(log['path'])}</code> ({html.escape(log['format'])}), "
            f"{_count(log['events'], 'event')}, {_count(log['titles'], 'title')}, logged mean reward "
            f"{log['logged_reward_mean']:.4f}.</p>"
            + "".join(f"<p class='note'>{html.escape(n)}</p>" for n in log["notes"]),
        )
    )
    write_report(path, "artbandit evaluate: which policy should ship?", sections)


def _count(n: int, noun: str) -> str:
    """'1 title', '2 titles', '12,000 events'."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _whole(x: float | None) -> int | str:
    """An effective sample size as a whole number; '-' when there is none (no weight on any event)."""
    return "-" if x is None or not np.isfinite(x) else round(x)
