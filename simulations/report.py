"""report.html of a simulation: learning curves, regret, exposure audit, per-segment lift, the
artwork each segment ended up seeing, and the clickbait trade-off, as one self-contained page."""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from simulations.environment import Environment, Stream
from simulations.htmlreport import html_table, img_tag, thumbnail_data_uri, write_report
from simulations.metrics import Trace, baselines


def _plt():
    import matplotlib.pyplot as plt  # htmlreport already selected the Agg backend

    return plt


def _markers(ax, metrics: dict[str, Any]) -> None:
    sc, n = metrics["scenario"], metrics["impressions"]
    if sc.get("drift_at") is not None:
        ax.axvline(sc["drift_at"] * n, color="k", ls=":", lw=1, label="taste drift")
    if sc.get("late_titles") or sc.get("late_variants"):
        ax.axvline(sc["arrive_at"] * n, color="k", ls="--", lw=1, label="new titles/variants")


def _curves(metrics: dict[str, Any]):
    plt = _plt()
    reward = metrics["reward"]
    refs = metrics["references"][reward]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for label, m in metrics["policies"].items():
        ts = m["timeseries"]
        axes[0].plot(ts["t"], ts["cumulative_ctr"], label=label)
        axes[1].plot(ts["t"], ts["cumulative_regret"], label=label)
        w = ts["window_share_of_oracle"]
        x = (np.arange(len(w)) + 0.5) * metrics["impressions"] / len(w)
        axes[2].plot(x, w, label=label)
    for name, style in (("oracle", "-"), ("best_fixed", "--"), ("uniform_expected", ":")):
        axes[0].axhline(refs[name]["expected_ctr"], color="grey", ls=style, lw=1, label=name.replace("_", " "))
    axes[0].set(title="cumulative CTR", xlabel="impressions", ylabel="CTR")
    axes[1].set(title=f"cumulative regret vs oracle ({reward})", xlabel="impressions")
    axes[2].set(title=f"share of oracle {reward} per window", xlabel="impressions", ylim=(0, 1.05))
    for ax in axes[1:]:
        _markers(ax, metrics)
    axes[0].legend(fontsize=7)
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    return fig


def _exposure(metrics: dict[str, Any], env: Environment):
    plt = _plt()
    pols = list(metrics["policies"].items())
    titles = env.catalog.titles
    K = env.catalog.max_variants
    fig, axes = plt.subplots(1, len(pols), figsize=(3.2 * len(pols) + 1, 0.28 * len(titles) + 1.6),
                             squeeze=False)
    for ax, (label, m) in zip(axes[0], pols):
        grid = np.full((len(titles), K), np.nan)
        for ti, t in enumerate(titles):
            tm = m["exposure"]["titles"].get(t.id)
            if tm:
                for j, v in enumerate(t.variants):
                    grid[ti, j] = tm["variants"][v.id]["share"]
        im = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_title(f"{label}\nGini {m['exposure']['gini']:.2f}", fontsize=8)
        ax.set_yticks(range(len(titles)), [t.id for t in titles], fontsize=6)
        ax.set_xticks(range(K), [f"v{j}" for j in range(K)], fontsize=6)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="share of the title's impressions")
    return fig


def _segment_lift(metrics: dict[str, Any]):
    plt = _plt()
    segs = metrics["segments"]
    pols = list(metrics["policies"].items())
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(segs) + 2), 3.8))
    width = 0.8 / max(1, len(pols))
    for i, (label, m) in enumerate(pols):
        vals = [m["segments"].get(s, {}).get("lift_over_best_fixed", 0.0) * 100 for s in segs]
        ax.bar(np.arange(len(segs)) + i * width, vals, width, label=label)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(segs)) + width * (len(pols) - 1) / 2, segs)
    ax.set(ylabel="% lift over best fixed variant", title="per-segment lift over one artwork for everyone")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _artwork_by_segment(metrics, env: Environment, stream: Stream, traces: dict[str, Trace]) -> str:
    """For the most-watched titles: the variant each segment saw most in the last 20% of the run."""
    learner = next((lbl for lbl, m in metrics["policies"].items()
                    if m["role"] == "evaluated" and m["policy"] != "uniform"), None)
    if learner is None:
        return "<p>No learning policy was run.</p>"
    tr = traces[learner]
    n = stream.n
    tail = np.arange(n) >= int(0.8 * n)
    oracle = baselines(stream, metrics["reward"])["oracle"]
    counts = np.bincount(stream.title, minlength=len(env.catalog.titles))
    top = np.argsort(-counts)[:4]
    rows = []
    for s, seg in enumerate(env.segment_names):
        cells = [f"<td>{html.escape(seg)}</td>"]
        for ti in top:
            title = env.catalog.titles[ti]
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
            cells.append(f"<td>{pic}{html.escape(v.id)} <i>{html.escape(v.archetype)}</i><br>"
                         f"{share:.0%} of views{ok}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    head = "".join(f"<th>{html.escape(env.catalog.titles[ti].id)} ({env.catalog.titles[ti].genre})</th>"
                   for ti in top)
    return (f"<p>Policy <b>{html.escape(learner)}</b>, last 20% of the run: the variant each segment "
            f"was shown most, for the four most-watched titles (red: the oracle's most frequent pick "
            f"differs).</p><table><thead><tr><th>segment</th>{head}</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def write_simulation_report(
    path: Path, metrics: dict[str, Any], env: Environment, stream: Stream, traces: dict[str, Trace]
) -> None:
    """Build every section and write the page atomically."""
    reward = metrics["reward"]
    sc = metrics["scenario"]
    refs = metrics["references"][reward]
    pols = metrics["policies"]
    summary_rows = [
        [label, m["role"], m["reward"], m["ctr"], m["quality_play_rate"], m["expected_ctr"],
         m["share_of_oracle"], m["final_window"]["share_of_oracle"], m["lift_over_best_fixed"] * 100,
         m["cumulative_regret"]]
        for label, m in pols.items()
    ]
    for name in ("oracle", "best_fixed", "uniform_expected"):
        summary_rows.append([name.replace("_", " "), "reference", reward, "", "", refs[name]["expected_ctr"],
                             "", "", "", ""])
    intro = (
        f"<p>Scenario <b>{html.escape(sc['name'])}</b>: {html.escape(sc['description'])}<br>"
        f"{metrics['impressions']:,} impressions, seed {metrics['seed']}, reward <b>{reward}</b>, "
        f"{metrics['catalog']['titles']} titles / {metrics['catalog']['variants']} variants "
        f"({'real images' if metrics['catalog']['real_variants'] else 'generated features'}), "
        f"segments: {', '.join(map(html.escape, metrics['segments']))}.</p>"
        "<p class='note'>Expected values come from the exact click/play probabilities (no sampling "
        "noise); CTR and quality-play rate are the simulated outcomes. Best fixed = one variant per "
        "title chosen in hindsight; oracle = the best variant for each viewer.</p>"
    )
    sections = [
        ("Summary", intro + html_table(
            ["policy", "role", "reward", "CTR", "quality-play rate", "expected CTR", "share of oracle",
             "share of oracle (last 10%)", "lift over best fixed %", "cumulative regret"],
            summary_rows)),
        ("Learning curves", img_tag(_curves(metrics), "learning curves")),
    ]
    rec_rows = []
    for label, m in pols.items():
        for kind, r in m["recovery"].items():
            rec_rows.append([label, kind] + [v for k, v in r.items() if k != "at"])
    if rec_rows:
        kind = next(iter(pols.values()))["recovery"]
        heads = {"drift": ["before", "just after", "end"],
                 "cold_start": ["new titles just after", "new titles at end", "old titles at end"]}
        body = "".join(
            html_table(["policy", "change"] + heads[k], [r for r in rec_rows if r[1] == k]) for k in kind
        )
        sections.append(("Recovery after change (share of oracle)", body))
    # exposure audit
    audit_rows, flags = [], []
    for label, m in pols.items():
        e = m["exposure"]
        audit_rows.append([label, e["gini"], e["explored_share"], e["clickbait_share"], len(e["starved"])])
        for s in e["starved"]:
            flags.append(f"<li><span class='flag'>{html.escape(label)}</span>: {html.escape(s['variant'])} "
                         f"shown to {s['share']:.2%} of its title's impressions (floor {e['floor']:.0%})</li>")
    audit = html_table(["policy", "Gini of exposure", "explored share", "clickbait share", "starved variants"],
                       audit_rows)
    audit += ("<p>Starved variants (shown less than the exposure floor):</p><ul>" + "".join(flags[:60])
              + ("<li>...</li>" if len(flags) > 60 else "") + "</ul>") if flags else \
        "<p>No variant was starved below the exposure floor.</p>"
    kinds = sorted({k for m in pols.values() for ss in m["exposure"]["segment_summary"].values()
                    for k in ss["archetypes"]})
    seg_rows = [[label, seg, ss["explored_share"], ss["clickbait_share"]]
                + [ss["archetypes"].get(k, 0.0) for k in kinds]
                for label, m in pols.items() for seg, ss in m["exposure"]["segment_summary"].items()]
    audit += ("<p>Exposure per segment (share of the segment's impressions; artwork kinds are the "
              "generator's archetypes, 'real' for real variants):</p>"
              + html_table(["policy", "segment", "explored share", "clickbait share"] + kinds, seg_rows, digits=3))
    audit += img_tag(_exposure(metrics, env), "exposure shares")
    seg_rows = []
    for label, m in pols.items():
        for seg, sm in m["segments"].items():
            seg_rows.append([label, seg, sm["impressions"], sm["ctr"], sm["expected_ctr"],
                             sm["share_of_oracle"], sm["lift_over_best_fixed"] * 100])
    sections += [
        ("Exposure audit", audit),
        ("Per-segment results", img_tag(_segment_lift(metrics), "per-segment lift") + html_table(
            ["policy", "segment", "impressions", "CTR", "expected CTR", "share of oracle", "lift %"],
            seg_rows)),
        ("Artwork each segment ended up seeing", _artwork_by_segment(metrics, env, stream, traces)),
    ]
    if "tradeoff" in metrics:
        t = metrics["tradeoff"]
        rows = [[r["label"], rw, r["ctr"], r["quality_play_rate"], r["expected_ctr"], r["expected_play_rate"],
                 r["clickbait_share"]] for rw, r in t["by_reward"].items()]
        body = html_table(["run", "optimised reward", "CTR", "quality-play rate", "expected CTR",
                           "expected quality-play rate", "clickbait share"], rows)
        if "clicks_given_up" in t:
            body += (f"<p>Optimising quality plays instead of clicks gives up "
                     f"<b>{t['clicks_given_up']:.4f}</b> expected clicks per impression and gains "
                     f"<b>{t['quality_plays_gained']:.4f}</b> expected quality plays per impression.</p>")
        sections.append(("Clickbait trade-off: clicks vs quality plays", body))
    write_report(path, f"artbandit simulation: {sc['name']}", sections)
