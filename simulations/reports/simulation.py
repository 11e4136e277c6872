"""report.html of a simulation: learning curves, regret, exposure audit, per-segment lift, the
artwork each segment ended up seeing, and the clickbait trade-off, as one self-contained page."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from simulations.online.metrics import MIN_LIFT_BASE, Trace, baselines
from simulations.reports import plotstyle
from simulations.reports.htmlreport import Cell, html_table, img_tag, thumbnail_data_uri, write_report
from simulations.world.environment import Environment, Stream


def _markers(ax, metrics: dict[str, Any]) -> None:
    sc, n = metrics["scenario"], metrics["impressions"]
    if sc.get("drift_at") is not None:
        ax.axvline(sc["drift_at"] * n, color="k", ls=":", lw=1, label="taste drift")
    if sc.get("late_titles") or sc.get("late_variants"):
        ax.axvline(sc["arrive_at"] * n, color="k", ls="--", lw=1, label="new titles/variants")


@plotstyle.styled
def _curves(metrics: dict[str, Any]):
    reward = metrics["reward"]
    refs = metrics["references"][reward]
    fig, axes = plotstyle.figure(1, 3, height=3.9)
    for label, m in metrics["policies"].items():
        ts = m["timeseries"]
        style = {"color": plotstyle.policy_colour(label), "ls": plotstyle.policy_linestyle(label), "label": label}
        axes[0].plot(ts["t"], ts["cumulative_ctr"], **style)
        axes[1].plot(ts["t"], ts["cumulative_regret"], **style)
        w = ts["window_share_of_oracle"]
        x = (np.arange(len(w)) + 0.5) * metrics["impressions"] / len(w)
        axes[2].plot(x, w, **style)
    for name in ("oracle", "best_fixed", "uniform_expected"):
        label = name.replace("_", " ")
        axes[0].axhline(refs[name]["expected_ctr"], label=label, **plotstyle.REFERENCE_STYLES[label])
    axes[0].set(title="cumulative CTR\n(black lines: references)", xlabel="impressions", ylabel="CTR")
    axes[1].set(title=f"cumulative regret vs oracle\n({reward})", xlabel="impressions")
    axes[2].set(title=f"share of oracle {reward}\nper window", xlabel="impressions", ylim=(0, 1.05))
    for ax in axes:
        plotstyle.count_axis(ax.xaxis)
    plotstyle.count_axis(axes[1].yaxis)
    plotstyle.percent_axis(axes[2].yaxis, decimals=0)
    for ax in axes[1:]:
        _markers(ax, metrics)
    handles, labels = {}, []
    for ax in axes:
        for h, lbl in zip(*ax.get_legend_handles_labels()):
            if lbl not in handles:
                handles[lbl] = h
                labels.append(lbl)
    plotstyle.legend(
        fig,
        handles=[handles[lbl] for lbl in labels],
        labels=labels,
        loc="outside lower center",
        ncols=min(4, len(labels)),
    )
    return fig


@plotstyle.styled
def _exposure(metrics: dict[str, Any], env: Environment):
    """One heat map per policy: share of each title's impressions each variant got."""
    pols = [(label, m) for label, m in metrics["policies"].items() if m["role"] != "trade-off"]
    titles = env.titleset.titles
    K = env.titleset.max_variants
    ncols = min(4, len(pols))
    nrows = -(-len(pols) // ncols)
    fig, axes = plotstyle.figure(
        nrows, ncols, height=nrows * (0.3 * len(titles) + 1.3) + 0.8, squeeze=False, sharey=True
    )
    step = max(1, -(-K // 6))  # at most ~6 variant labels per panel, so they never run together
    im = None
    for ax, (label, m) in zip(axes.flat, pols):
        grid = np.full((len(titles), K), np.nan)
        for ti, t in enumerate(titles):
            tm = m["exposure"]["titles"].get(t.id)
            if tm:
                for j, v in enumerate(t.variants):
                    grid[ti, j] = tm["variants"][v.id]["share"]
        im = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto", interpolation="nearest")
        ax.set_title(f"{label}\nGini {m['exposure']['gini']:.2f}", color=plotstyle.policy_colour(label))
        ax.set_yticks(range(len(titles)), [_short(t.id, 16) for t in titles])
        ax.set_xticks(range(0, K, step), [f"v{j}" for j in range(0, K, step)])
        ax.set_xlabel("variant")
        ax.grid(False)
    for ax in list(axes.flat)[len(pols) :]:
        ax.set_visible(False)
    if im is not None:
        fig.colorbar(im, ax=axes, shrink=0.8, label="share of the title's\nimpressions")
    return fig


def _short(text: str, n: int) -> str:
    """A label cut to n characters (ids of real variants folders can be long)."""
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def _segment_rows(metrics: dict[str, Any]) -> tuple[str, list[str], list[tuple[str, dict[str, Any]]]]:
    """(rate key, segments, policies to compare) for the per-segment comparison."""
    key = "expected_ctr" if metrics["reward"] == "click" else "expected_play_rate"
    pols = [(label, m) for label, m in metrics["policies"].items() if m["role"] != "trade-off"]
    return key, list(metrics["segments"]), pols


@plotstyle.styled
def segment_figure(metrics: dict[str, Any]):
    """Per segment, side by side: the best single artwork's rate (grey) and each policy's rate, each
    policy bar labelled with its lift over that baseline (red for a loss; "n/a" under MIN_LIFT_BASE)."""
    key, segs, pols = _segment_rows(metrics)
    base = metrics["references"][metrics["reward"]]["segments"]
    what = "expected CTR" if key == "expected_ctr" else "expected quality-play rate"
    n_bars = len(pols) + 1
    fig, ax = plotstyle.figure(height=4.4)
    width = 0.8 / n_bars
    x = np.arange(len(segs))
    ax.bar(
        x,
        [base[s]["best_fixed"][key] for s in segs],
        width,
        color=plotstyle.BASELINE_COLOUR,
        hatch="//",
        edgecolor="#777777",
        label="one artwork for everyone (best fixed)",
    )
    top = 0.0
    for i, (label, m) in enumerate(pols, start=1):
        vals = [m["segments"].get(s, {}).get(key, 0.0) for s in segs]
        ax.bar(x + i * width, vals, width, color=plotstyle.policy_colour(label), label=label)
        for xi, s, v in zip(x + i * width, segs, vals):
            b = base[s]["best_fixed"][key]
            lift = segment_lift(v, b)
            text = "n/a" if lift is None else plotstyle.format_percent(lift, signed=True)
            colour = "#777777" if lift is None else (plotstyle.LOSS_COLOUR if lift < 0 else plotstyle.GAIN_COLOUR)
            ax.annotate(
                text,
                (xi, v),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                va="bottom",
                rotation=90,
                fontsize=plotstyle.TICK_SIZE - 1,
                color=colour,
                fontweight="bold" if lift is not None and lift < 0 else "normal",
            )
            top = max(top, v, b)
    ax.set_ylim(0, top * 1.3 if top > 0 else 1)
    ax.set_xticks(x + width * (n_bars - 1) / 2, [_short(s, 22) for s in segs])
    ax.set(
        ylabel=what,
        title=f"per segment: {what} of each policy next to one artwork for everyone\n"
        f"(labels: lift over it; red = worse; n/a = its {what} is under "
        f"{plotstyle.format_percent(MIN_LIFT_BASE, digits=0)})",
    )
    plotstyle.legend(ax, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="x", visible=False)
    return fig


def segment_lift(value: float, base: float) -> float | None:
    """value / base - 1, or None where the base is under MIN_LIFT_BASE (a lift there misleads)."""
    return None if base < MIN_LIFT_BASE else value / base - 1.0


def lift_cell(lift: float, base: float) -> Cell:
    """A lift as a table cell: signed percent, red with a marker for a loss, n/a over a tiny base."""
    if base < MIN_LIFT_BASE:
        return Cell("n/a", "na")  # (the page says why: the base is under MIN_LIFT_BASE)
    text = plotstyle.format_percent(lift, signed=True)
    return Cell("\u25bc " + text, "loss") if lift < 0 else Cell(text, "gain")


def segment_table(metrics: dict[str, Any]) -> str:
    """Per segment: the baseline's rate, then each policy's rate and lift (losses marked in red); then
    a second table, "no segment left behind": the share of the segment's own oracle in the final
    window for one artwork for everyone and for each policy (below that baseline: marked in red)."""
    key, segs, pols = _segment_rows(metrics)
    base = metrics["references"][metrics["reward"]]["segments"]
    what = "CTR" if key == "expected_ctr" else "quality plays"
    headers = ["segment", f"best fixed: {what}"]
    for label, _ in pols:
        headers += [f"{label}: {what}", f"{label}: lift"]
    rows, shares = [], []
    for s in segs:
        b = base[s]["best_fixed"][key]
        row: list[Any] = [s, b]
        share_row: list[Any] = [s, "-"]
        for _, m in pols:
            seg = m["segments"].get(s, {})
            v = seg.get(key)
            row += ["-", Cell("-", "na")] if v is None else [v, lift_cell(v / b - 1.0 if b > 0 else 0.0, b)]
            if "final_share_of_oracle" not in seg:
                share_row.append(Cell("-", "na"))
                continue
            fixed = seg["final_best_fixed_share_of_oracle"]  # the same for every policy
            share_row[1] = f"{fixed:.3f}"
            mine = seg["final_share_of_oracle"]
            share_row.append(Cell("\u25bc " + f"{mine:.3f}", "loss") if mine < fixed else Cell(f"{mine:.3f}", "gain"))
        rows.append(row)
        shares.append(share_row)
    return (
        f"<p>Expected {what} per impression (exact probabilities); best fixed = one artwork for "
        f"everyone, chosen in hindsight. A lift is given only where that baseline is at least "
        f"{MIN_LIFT_BASE:.0%} (n/a otherwise); losses are marked \u25bc in red.</p>"
        + html_table(headers, rows)
        + f"<p><b>No segment left behind?</b> Each segment's share of its own best possible {what} "
        f"(its oracle) over the final 10% of the run, under one artwork for everyone and under "
        f"each policy; a policy below one artwork for everyone has left that segment behind "
        f"(\u25bc, red).</p>" + html_table(["segment", "best fixed"] + [label for label, _ in pols], shares, digits=3)
    )


def _artwork_by_segment(metrics, env: Environment, stream: Stream, traces: dict[str, Trace]) -> str:
    """For the most-watched titles: the variant each segment saw most in the last 20% of the run."""
    learner = next(
        (lbl for lbl, m in metrics["policies"].items() if m["role"] == "evaluated" and m["policy"] != "uniform"), None
    )
    if learner is None:
        return "<p>No learning policy was run.</p>"
    tr = traces[learner]
    n = stream.n
    tail = np.arange(n) >= int(0.8 * n)
    oracle = baselines(stream, metrics["reward"])["oracle"]
    counts = np.bincount(stream.title, minlength=len(env.titleset.titles))
    top = np.argsort(-counts)[:4]
    rows = []
    for s, seg in enumerate(env.segment_names):
        cells = [f"<td>{html.escape(seg)}</td>"]
        for ti in top:
            title = env.titleset.titles[ti]
            sel = tail & (stream.title == ti) & (stream.segment == s)
            if not sel.any():
                cells.append("<td>-</td>")
                continue
            shown = np.bincount(tr.chosen[sel], minlength=len(title.variants))
            best = np.bincount(oracle[sel], minlength=len(title.variants))
            j, jb = int(shown.argmax()), int(best.argmax())
            v = title.variants[j]
            share = shown[j] / sel.sum()
            pic = ""
            if v.file is not None and Path(v.file).is_file():
                try:
                    pic = f'<img src="{thumbnail_data_uri(v.file, height=120)}" alt="{html.escape(v.id)}"><br>'
                except OSError:
                    pic = ""
            ok = "" if j == jb else f' <span class="flag">(oracle: {html.escape(title.variants[jb].id)})</span>'
            cells.append(
                f"<td>{pic}{html.escape(v.id)} <i>{html.escape(v.archetype)}</i><br>{share:.0%} of views{ok}</td>"
            )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    head = "".join(
        f"<th>{html.escape(env.titleset.titles[ti].id)} ({html.escape(env.titleset.titles[ti].genre)})</th>"
        for ti in top
    )
    return (
        f"<p>Policy <b>{html.escape(learner)}</b>, last 20% of the run: the variant each segment "
        f"was shown most, for the four most-watched titles (red: the oracle's most frequent pick "
        f"differs).</p><table><thead><tr><th>segment</th>{head}</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def write_simulation_report(
    path: Path, metrics: dict[str, Any], env: Environment, stream: Stream, traces: dict[str, Trace]
) -> None:
    """Build every section and write the page atomically."""
    reward = metrics["reward"]
    sc = metrics["scenario"]
    refs = metrics["references"][reward]
    pols = metrics["policies"]
    base = refs["best_fixed"]["expected_ctr" if reward == "click" else "expected_play_rate"]
    summary_rows = [
        [
            label,
            m["role"],
            m["reward"],
            m["ctr"],
            m["quality_play_rate"],
            m["expected_ctr"],
            m["share_of_oracle"],
            m["final_window"]["share_of_oracle"],
            lift_cell(m["lift_over_best_fixed"], base),
            m["cumulative_regret"],
        ]
        for label, m in pols.items()
    ]
    for name in ("oracle", "best_fixed", "uniform_expected"):
        summary_rows.append(
            [name.replace("_", " "), "reference", reward, "", "", refs[name]["expected_ctr"], "", "", "", ""]
        )
    intro = (
        f"<p>Scenario <b>{html.escape(sc['name'])}</b>: {html.escape(sc['description'])}<br>"
        f"{metrics['impressions']:,} impressions, seed {metrics['seed']}, reward <b>{reward}</b>, "
        f"titles: {metrics['catalog']['titles']}, variants: {metrics['catalog']['variants']} "
        f"({'real images' if metrics['catalog']['real_variants'] else 'generated features'}), "
        f"segments: {', '.join(map(html.escape, metrics['segments']))}.</p>"
        "<p class='note'>Expected values come from the exact click/play probabilities (no sampling "
        "noise); CTR and quality-play rate are the simulated outcomes. Best fixed = one variant per "
        "title chosen in hindsight; oracle = the best variant for each viewer.</p>"
    )
    sections = [
        (
            "Summary",
            intro
            + html_table(
                [
                    "policy",
                    "role",
                    "reward",
                    "CTR",
                    "quality-play rate",
                    "expected CTR",
                    "share of oracle",
                    "share of oracle (last 10%)",
                    "lift over best fixed",
                    "cumulative regret",
                ],
                summary_rows,
            ),
        ),
        ("Learning curves", img_tag(_curves(metrics), "learning curves")),
    ]
    rec_rows = []
    for label, m in pols.items():
        for kind, r in m["recovery"].items():
            rec_rows.append([label, kind] + [v for k, v in r.items() if k != "at"])
    if rec_rows:
        kind = next(iter(pols.values()))["recovery"]
        heads = {
            "drift": ["before", "just after", "end"],
            "cold_start": ["new titles just after", "new titles at end", "old titles at end"],
        }
        body = "".join(html_table(["policy", "change"] + heads[k], [r for r in rec_rows if r[1] == k]) for k in kind)
        sections.append(("Recovery after change (share of oracle)", body))
    # exposure audit
    audit_rows, flags = [], []
    for label, m in pols.items():
        e = m["exposure"]
        audit_rows.append([label, e["gini"], e["explored_share"], e["clickbait_share"], len(e["starved"])])
        for s in e["starved"]:
            flags.append(
                f"<li><span class='flag'>{html.escape(label)}</span>: {html.escape(s['variant'])} "
                f"shown to {s['share']:.2%} of its title's impressions (floor {e['floor']:.0%})</li>"
            )
    audit = html_table(
        ["policy", "Gini of exposure", "explored share", "clickbait share", "starved variants"], audit_rows
    )
    audit += (
        (
            "<p>Starved variants (shown less than the exposure floor, by more than two binomial "
            "standard deviations):</p><ul>"
            + "".join(flags[:60])
            + ("<li>...</li>" if len(flags) > 60 else "")
            + "</ul>"
        )
        if flags
        else "<p>No variant was starved below the exposure floor (beyond two binomial standard deviations).</p>"
    )
    kinds = sorted(
        {k for m in pols.values() for ss in m["exposure"]["segment_summary"].values() for k in ss["archetypes"]}
    )
    seg_rows = [
        [label, seg, ss["explored_share"], ss["clickbait_share"]] + [ss["archetypes"].get(k, 0.0) for k in kinds]
        for label, m in pols.items()
        for seg, ss in m["exposure"]["segment_summary"].items()
    ]
    audit += (
        "<p>Exposure per segment (share of the segment's impressions; artwork kinds are the "
        "generator's archetypes, 'real' for real variants):</p>"
        + html_table(["policy", "segment", "explored share", "clickbait share"] + kinds, seg_rows, digits=3)
    )
    audit += img_tag(_exposure(metrics, env), "exposure shares")
    seg_rows = []
    for label, m in pols.items():
        for seg, sm in m["segments"].items():
            seg_rows.append(
                [
                    label,
                    seg,
                    sm["impressions"],
                    sm["ctr"],
                    sm["expected_ctr"],
                    sm["quality_play_rate"],
                    sm["share_of_oracle"],
                ]
            )
    sections += [
        ("Exposure audit", audit),
        (
            "Per-segment results",
            img_tag(segment_figure(metrics), "per-segment rates next to one artwork for everyone")
            + segment_table(metrics)
            + html_table(
                ["policy", "segment", "impressions", "CTR", "expected CTR", "quality-play rate", "share of oracle"],
                seg_rows,
            ),
        ),
        ("Artwork each segment ended up seeing", _artwork_by_segment(metrics, env, stream, traces)),
    ]
    if "tradeoff" in metrics:
        t = metrics["tradeoff"]
        rows = [
            [
                r["label"],
                rw,
                r["ctr"],
                r["quality_play_rate"],
                r["expected_ctr"],
                r["expected_play_rate"],
                r["clickbait_share"],
            ]
            for rw, r in t["by_reward"].items()
        ]
        body = html_table(
            [
                "run",
                "optimised reward",
                "CTR",
                "quality-play rate",
                "expected CTR",
                "expected quality-play rate",
                "clickbait share",
            ],
            rows,
        )
        if "clicks_given_up" in t:
            body += (
                f"<p>Optimising quality plays instead of clicks gives up "
                f"<b>{t['clicks_given_up']:.4f}</b> expected clicks per impression and gains "
                f"<b>{t['quality_plays_gained']:.4f}</b> expected quality plays per impression.</p>"
            )
        sections.append(("Clickbait trade-off: clicks vs quality plays", body))
    write_report(path, f"artbandit simulation: {sc['name']}", sections)
