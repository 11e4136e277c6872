"""`artbandit extract`: candidate thumbnails from one or many videos (thin layer over imaging.candidates.batch).

The library decides what each video's output folder allows (imaging.candidates.batch.plan_extract) and does
the work (imaging.candidates.batch.run_extract_job); this module parses options, draws the library's
safeio.progress reports (artbandit.cli.common.progress_reporter), runs several videos on the local
task engine, and prints.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from artbandit.cli.common import progress_bar, progress_reporter, quiet_option, say
from artbandit.text import plural

# The library's own names, from a module with no imports: `artbandit --help` loads no OpenCV or PyAV.
from imaging.choices import IMAGE_FORMATS, MODES


@click.command()
@click.argument("videos", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="Output folder (one sub-folder per video when several are given).",
)
@click.option(
    "-k", "k", default=8, show_default=True, type=click.IntRange(1, 200), help="Number of candidates per video."
)
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default="default",
    show_default=True,
    help="quick: keyframes only; default: skip non-reference frames; thorough: every frame.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(IMAGE_FORMATS),
    default="jpg",
    show_default=True,
    help="Image format of the candidates.",
)
@click.option(
    "--jobs",
    "-j",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Videos processed in parallel (processes).",
)
@click.option(
    "--force", is_flag=True, help="Redo videos whose output exists; replaces only artbandit's own extract output."
)
@click.option("--json", "as_json", is_flag=True, help="Print the manifest (a list for several videos).")
@click.option(
    "--min-count",
    "min_count",
    default=None,
    type=click.IntRange(0, 200),
    help="Fewest candidates wanted (default K): when fewer distinct pictures exist, usable "
    "frames from other moments fill in, marked look_alike. 0: distinct pictures only.",
)
@click.option(
    "--likeness",
    default=None,
    type=click.FloatRange(0.0, 1.0, min_open=True),
    help="Structural likeness (SSIM of a small grey copy) from which two frames count as one "
    "picture [default: 0.75]; lower merges more.",
)
@click.option("--sample", is_flag=True, help="Use the built-in procedural sample video (no VIDEO needed).")
@quiet_option
def extract(
    videos: tuple[Path, ...],
    out: Path,
    k: int,
    mode: str,
    fmt: str,
    jobs: int,
    force: bool,
    as_json: bool,
    min_count: int | None,
    likeness: float | None,
    sample: bool,
    quiet: bool,
) -> None:
    """Pull K good, different candidate thumbnails out of each VIDEO (files or folders).

    Writes OUT/manifest.json (schema artbandit.candidates/1), the images, contact_sheet.png and
    the shot list OUT/shots.csv.
    """
    if sample and videos:
        raise click.UsageError("give VIDEO arguments or --sample, not both")
    if not sample and not videos:
        raise click.UsageError("give at least one VIDEO (file or folder), or --sample")
    from imaging.candidates.batch import plan_extract, run_extract_task

    if sample:
        from imaging.decode.sample import cached_sample_video

        say("using the built-in sample video (generated once, then cached)", quiet)
        videos = (cached_sample_video(),)
    plan = plan_extract(videos, out, k=k, mode=mode, fmt=fmt, force=force, min_count=min_count, likeness=likeness)
    single = len(videos) == 1 and not videos[0].is_dir() and plan.inputs == 1
    manifests: list[dict] = []
    for video, folder, manifest in plan.skipped:
        say(f"{video}: skipped, {folder} already holds its candidates (use --force to redo)", quiet)
        manifests.append(manifest)

    results: list[tuple[Path, Path, dict | None, str | None]] = []
    if len(plan.jobs) == 1:
        job = plan.jobs[0]
        with progress_reporter(job.video.name, quiet) as report:
            made, err = run_extract_task(job, report)
        results.append((job.video, job.out_dir, made, err))
    elif plan.jobs:
        from safeio.engine.local import LocalEngine

        done: dict[int, tuple[dict | None, str | None]] = {}
        with (
            LocalEngine(min(jobs, len(plan.jobs))) as engine,
            progress_bar(length=len(plan.jobs), label="videos", quiet=quiet) as bar,
        ):
            for task in engine.imap(run_extract_task, plan.jobs):
                done[task.index] = task.value if task.ok else (None, f"{plan.jobs[task.index].video}: {task.error}")
                bar.update(1)
        results = [(j.video, j.out_dir, *done[i]) for i, j in enumerate(plan.jobs)]

    failures = list(plan.errors)
    for video, out_dir, written, err in results:
        if err or written is None:
            failures.append(err or f"{video}: no manifest")
            continue
        manifests.append(written)
        for w in written.get("warnings", []):  # not chatter: shown even with --quiet
            click.echo(f"warning: {w}", err=True)
        say(
            f"{video}: {plural(len(written['candidates']), 'candidate')} from "
            f"{plural(len(written['shots']), 'shot')} -> {out_dir}",
            quiet,
        )
    for err in failures:
        click.echo(f"Error: {err}", err=True)
    if as_json:
        click.echo(json.dumps(manifests[0] if single and manifests else manifests, indent=2))
    if failures:
        if plan.inputs > 1:
            say(f"{len(failures)} of {plural(plan.inputs, 'input')} failed", quiet)
        sys.exit(1)  # (click.Exit would be swallowed: main() runs click with standalone_mode=False)
