"""`artbandit demo`: the whole chain on one machine, ending in one page a newcomer can open.

video -> candidate thumbnails (imaging.candidates.extract) -> artwork variants (imaging.artwork.variants)
-> a simulated audience choosing among those real variants (simulations.online.runner)
-> offline replay of the logged decisions (simulations.ope) -> OUT/index.html.

Each video is one title of the simulated catalogue. With no video, the built-in procedural sample
(imaging.decode.sample, generated once and cached) is used, so the demo needs nothing but Python.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from artbandit.text import grouped_notes, plural
from safeio.atomic import write_text_atomic
from safeio.outdir import OutputFolder
from safeio.progress import Progress, no_progress
from simulations.errors import SimulationError

SCHEMA = "artbandit.demo/1"
DEMO_POLICIES = ("vw:select", "linucb", "ts-per-title", "uniform")
REPLAY_POLICIES = ("vw:select", "linucb", "uniform")
REPLAY_ESTIMATORS = ("snips", "dr")
SAMPLE_TITLE = "The Long Night"


@dataclass
class DemoSettings:
    """Knobs of the demo; the defaults finish in well under two minutes on a 2-core machine."""

    videos: Sequence[str | os.PathLike] = ()
    title: str | None = None
    candidates: int = 6
    aspect: str = "2:3"
    treatments: Sequence[str] = ("none", "warm", "cool")
    impressions: int = 40_000
    scenario: str = "segments"
    seed: int = 0
    policies: Sequence[str] = DEMO_POLICIES
    replay_policies: Sequence[str] = REPLAY_POLICIES
    estimators: Sequence[str] = REPLAY_ESTIMATORS
    jobs: int = os.cpu_count() or 1  # processes for the simulation's policies (same results as 1)


def run_demo(
    out_dir: str | os.PathLike,
    settings: DemoSettings | None = None,
    *,
    say: Callable[[str], None] = lambda s: None,
    progress: Progress | None = None,
    force: bool = False,
) -> dict:
    """Run every stage into `out_dir`: all of it, or (on failure) nothing.

    Stages write straight into `out_dir` so that the paths recorded inside their outputs
    (variants.json sources, replay.json's log) are the final ones. `out_dir` follows
    safeio.OutputFolder: a folder artbandit did not write is refused (even with `force`), so is one
    holding an input video; an earlier demo output of the same settings is regenerated, one of other
    settings only with `force`. A run that fails removes what it wrote. `progress(done, total,
    unit)` reports each stage (frames, images, impressions, events; safeio.progress).
    """
    from imaging.artwork.variants import make_variants
    from imaging.candidates.extract import extract_candidates
    from imaging.candidates.manifest import write_candidates
    from imaging.decode.sample import cached_sample_video
    from imaging.decode.video import probe
    from simulations.online.runner import run_simulation
    from simulations.ope import run_replay
    from simulations.ope.replay import passes_needed

    s = settings or DemoSettings()
    out = Path(out_dir)
    report = progress or no_progress

    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = round(timings.get(stage, 0.0) + now - clock, 2)
        clock = now

    videos = [Path(v) for v in s.videos]
    for v in videos:
        if not v.is_file():
            raise SimulationError(f"{v}: no such video file")
    sample = not videos
    title = s.title if s.title is not None else (SAMPLE_TITLE if sample else None)
    folder = OutputFolder(
        out,
        "demo",
        videos,
        {
            "videos": [os.path.abspath(v) for v in videos] or "sample",
            "title": title,
            "candidates": s.candidates,
            "aspect": s.aspect,
            "treatments": list(s.treatments),
            "impressions": s.impressions,
            "scenario": s.scenario,
            "seed": s.seed,
            "policies": list(s.policies),
            "replay_policies": list(s.replay_policies),
            "estimators": list(s.estimators),
        },
    )
    state = folder.check(force=force)  # before any work: a refusal changes nothing
    if sample:
        say("[1/5] built-in sample video (generated once, then cached)")
        videos = [cached_sample_video()]
        lap("sample")
    keep: list[str] = []
    if state != "new":  # artbandit's own demo output (same settings, or --force): regenerated, the user's files kept
        keep = folder.foreign_files()
        folder.clear_own(keep)
    out.mkdir(parents=True, exist_ok=True)
    try:
        titles: list[dict[str, Any]] = []
        for n, video in enumerate(videos):
            name = _title_folder(video, n, len(videos))
            say(f"[2/5] extracting candidate thumbnails from {video}")
            frames = max(1, probe(video).frames)

            def on_frame(index: int, total: int = frames) -> None:
                if index % 25 == 0:  # a few reports a second is plenty for a bar
                    report(min(index + 1, total), total, "frames")

            result = extract_candidates(video, k=s.candidates, mode="default", on_frame=on_frame)
            report(frames, frames, "frames")  # (the default mode skips frames it need not decode)
            # force: this run owns `out` (checked above); a nested output that still holds a user's
            # file kept its marker and is replaced around that file
            write_candidates(result, out / "extract" / name, force=True)
            lap("extract")
            say(f"[3/5] making artwork variants of {plural(len(result.candidates), 'candidate')}")
            made_sources = [0]

            def on_source(_src, total=len(result.candidates)) -> None:
                made_sources[0] += 1
                report(made_sources[0], total, "images")

            made = make_variants(
                [out / "extract" / name],
                out / "variants" / name,
                aspects=[s.aspect],
                title=title,
                treatments=list(s.treatments),
                on_source=on_source,
                force=True,
            )
            for note in grouped_notes(made.notes):
                say(f"note: {note}")
            lap("variants")
            titles.append(
                {
                    "name": name,
                    "video": str(video),
                    "candidates": len(result.candidates),
                    "shots": len(result.shots),
                    "variants": len(made.document["variants"]),
                }
            )

        say(f"[4/5] simulating {s.impressions:,} impressions per policy ({', '.join(s.policies)})")
        metrics = run_simulation(
            s.scenario,
            list(s.policies),
            impressions=s.impressions,
            seed=s.seed,
            log_policy="uniform",
            out_dir=out / "simulate",
            progress=report,
            variants=[out / "variants" / t["name"] for t in titles],
            jobs=s.jobs,
            force=True,
        )
        lap("simulate")

        say("[5/5] offline replay of the uniformly logged decisions")
        events_total = passes_needed(list(s.replay_policies), list(s.estimators)) * s.impressions
        replayed = [0]

        def on_events(n: int) -> None:
            replayed[0] += n
            report(replayed[0], events_total, "events")

        replay = run_replay(
            out / "simulate" / "events.sqlite",
            list(s.replay_policies),
            list(s.estimators),
            out_dir=out / "replay",
            seed=s.seed,
            on_events=on_events,
            force=True,
        )
        lap("replay")

        headline = headline_numbers(metrics, replay)
        summary = {
            "schema": SCHEMA,
            "sample_video": sample,
            "titles": titles,
            "settings": {
                "impressions": s.impressions,
                "scenario": s.scenario,
                "seed": s.seed,
                "policies": list(s.policies),
                "treatments": list(s.treatments),
                "aspect": s.aspect,
                "title": title,
            },
            "headline": headline,
            "timings_s": timings,
        }
        write_text_atomic(out / "index.html", index_page(summary, metrics, replay))
        write_text_atomic(out / "demo.json", json.dumps(summary, indent=2) + "\n")
        folder.write_marker(out, exclude=keep)  # last: marks a complete demo output as artbandit's
    except BaseException:
        if keep:
            folder.clear_own(keep)
        else:
            shutil.rmtree(out, ignore_errors=True)
        raise
    return summary


def _title_folder(video: Path, n: int, total: int) -> str:
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in video.stem) or "video"
    return stem if total == 1 else f"{n + 1:02d}-{stem}"


def headline_numbers(metrics: dict, replay: dict) -> dict:
    """The numbers a newcomer should read first: does personalised artwork pay off, and by how much."""
    pols = metrics["policies"]
    vw = next((k for k in pols if k.startswith("vw")), next(iter(pols)))
    best_fixed = metrics["references"][metrics["reward"]]["best_fixed"]["expected_ctr"]
    oracle = metrics["references"][metrics["reward"]]["oracle"]["expected_ctr"]
    head = {
        "policy": vw,
        "ctr": pols[vw]["ctr"],
        "best_single_artwork_ctr": best_fixed,
        "oracle_ctr": oracle,
        "lift_over_best_fixed": pols[vw]["lift_over_best_fixed"],
        "share_of_oracle": pols[vw]["share_of_oracle"],
        "uniform_ctr": pols["uniform"]["ctr"] if "uniform" in pols else None,
        # segments whose share of their own oracle, in the final window, is below what one artwork
        # for everyone gives them (docs/defaults.md: what the probability floor costs them)
        "left_behind": [
            {
                "segment": name,
                "share_of_oracle": seg["final_share_of_oracle"],
                "best_fixed_share_of_oracle": seg["final_best_fixed_share_of_oracle"],
            }
            for name, seg in pols[vw].get("segments", {}).items()
            if "final_share_of_oracle" in seg and seg["final_share_of_oracle"] < seg["final_best_fixed_share_of_oracle"]
        ],
    }
    rep = next((p for p in replay["policies"] if p["name"] == vw), replay["policies"][0])
    name = "dr" if "dr" in rep["estimates"] else next(iter(rep["estimates"]))
    est = rep["estimates"][name]
    head["replay"] = {
        "policy": rep["name"],
        "estimator": name,
        "value": est["value"],
        "low": est["low"],
        "high": est["high"],
        "confidence": est.get("confidence", 0.95),
    }
    return head


def headline_text(head: dict) -> list[str]:
    """Headline numbers as short sentences (printed by the CLI, shown on index.html)."""
    r = head["replay"]
    from simulations.online.metrics import MIN_LIFT_BASE

    lift = (
        f"lift {head['lift_over_best_fixed']:+.1%}"
        if head["best_single_artwork_ctr"] >= MIN_LIFT_BASE
        else f"lift not given (base under {MIN_LIFT_BASE:.0%})"
    )
    return [
        f"{head['policy']} CTR {head['ctr']:.3f} vs best single artwork {head['best_single_artwork_ctr']:.3f}: {lift}",
        f"share of the oracle's reward: {head['share_of_oracle']:.1%} (oracle CTR {head['oracle_ctr']:.3f})",
        _left_behind_text(head.get("left_behind", [])),
        f"offline replay ({r['estimator'].upper()}) of {r['policy']} on the uniform log: {r['value']:.3f} "
        f"[{r['low']:.3f}, {r['high']:.3f}] at {r['confidence']:.0%}",
    ]


def _left_behind_text(left: list[dict]) -> str:
    if not left:
        return "no segment left behind: every segment gets at least what one artwork for everyone gives it (final 10%)"
    parts = [
        f"{x['segment']} {x['share_of_oracle']:.1%} of its oracle vs {x['best_fixed_share_of_oracle']:.1%}"
        for x in left
    ]
    return (
        "below one artwork for everyone in the final 10% (the exploration floor's cost, docs/defaults.md): "
        + "; ".join(parts)
    )


def index_page(summary: dict, metrics: dict, replay: dict) -> str:
    """One self-contained page linking every stage's output (relative links: the folder can move)."""
    from simulations.reports.htmlreport import html_table, img_tag
    from simulations.reports.plotstyle import format_percent
    from simulations.reports.simulation import lift_cell, segment_figure, segment_table

    esc = html.escape
    key = "expected_ctr" if metrics["reward"] == "click" else "expected_play_rate"
    base = metrics["references"][metrics["reward"]]["best_fixed"][key]
    policies = html_table(
        ["policy", "CTR", "share of oracle", "lift over best single artwork"],
        [
            [name, p["ctr"], format_percent(p["share_of_oracle"]), lift_cell(p["lift_over_best_fixed"], base)]
            for name, p in metrics["policies"].items()
        ],
    )
    per_segment = img_tag(
        segment_figure(metrics), "per-segment rates next to one artwork for everyone"
    ) + segment_table(metrics)
    stages = []
    for t in summary["titles"]:
        n = esc(t["name"])
        stages.append(
            f"<h2>Title <code>{n}</code></h2><p>{esc(t['video'])}: {plural(t['shots'], 'shot')}, "
            f"{plural(t['candidates'], 'candidate')}, {plural(t['variants'], 'variant')}.</p>"
            f"<h3>1. Candidate thumbnails (<a href='extract/{n}/manifest.json'>manifest.json</a>)</h3>"
            f"<a href='extract/{n}/contact_sheet.png'><img src='extract/{n}/contact_sheet.png'></a>"
            f"<h3>2. Artwork variants (<a href='variants/{n}/variants.json'>variants.json</a>)</h3>"
            f"<a href='variants/{n}/variants_sheet.png'><img src='variants/{n}/variants_sheet.png'></a>"
        )
    bullets = "".join(f"<li>{esc(line)}</li>" for line in headline_text(summary["headline"]))
    online = {name: p["ctr"] for name, p in metrics["policies"].items()}
    replay_rows = "".join(
        f"<tr><td>{esc(p['name'])}</td><td>{esc(name.upper())}</td><td>{e['value']:.4f}</td>"
        f"<td>[{e['low']:.4f}, {e['high']:.4f}]</td><td>{e['diagnostics']['ess']:,.0f}</td>"
        f"<td>{online[p['name']]:.4f}</td></tr>"
        if p["name"] in online
        else ""
        for p in replay["policies"]
        for name, e in p["estimates"].items()
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>artbandit demo</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}
img{{max-width:100%;border:1px solid #ccc}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}} td:first-child,th:first-child{{text-align:left}}
td.loss{{color:#b2182b;font-weight:600;white-space:nowrap}} td.gain{{color:#1b7837;white-space:nowrap}}
td.na{{color:#888}}</style>
</head><body>
<h1>artbandit demo</h1>
<ul>{bullets}</ul>
{"".join(stages)}
<h2>3. Online simulation (<a href="simulate/report.html">full report</a>,
<a href="simulate/metrics.json">metrics.json</a>)</h2>
<p>{summary["settings"]["impressions"]:,} impressions per policy, scenario
<code>{esc(summary["settings"]["scenario"])}</code>, seed {summary["settings"]["seed"]}.</p>
{policies}
<h3>Per segment: does every group of viewers gain?</h3>
{per_segment}
<h2>4. Offline replay (<a href="replay/report.html">full report</a>,
<a href="replay/replay.json">replay.json</a>)</h2>
<p>The uniformly logged decisions in <code>simulate/events.sqlite</code>, replayed for
{esc(", ".join(p["name"] for p in replay["policies"]))}: what each policy would have earned per
impression, estimated offline, next to the CTR it actually got online in the simulation.</p>
<table><tr><th>policy</th><th>estimator</th><th>estimate</th><th>95% interval</th>
<th>effective sample size</th><th>online CTR</th></tr>
{replay_rows}</table>
</body></html>
"""
