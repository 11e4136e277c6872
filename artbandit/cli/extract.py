"""`artbandit extract`: candidate thumbnails from one or many videos (thin layer over imaging.extract)."""
from __future__ import annotations

import json
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import click

from artbandit.cli.common import progress_bar as progress, quiet_option, say
from artbandit.text import plural

_MODES = ("quick", "default", "thorough")
_FORMATS = ("jpg", "png", "webp")


def _expand(paths: tuple[Path, ...]) -> tuple[list[Path], list[str]]:
    """Video files named directly or found in named folders, plus one error per unusable path."""
    from imaging.video import VIDEO_EXTENSIONS

    videos: list[Path] = []
    errors: list[str] = []
    for p in paths:
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in VIDEO_EXTENSIONS)
            if not found:
                errors.append(f"{p}: folder holds no video files ({', '.join(VIDEO_EXTENSIONS[:6])}, ...)")
            videos += found
        elif not p.exists():
            errors.append(f"{p}: no such file or folder")
        else:
            videos.append(p)
    return videos, errors


def _out_dirs(videos: list[Path], out: Path, single: bool) -> list[Path]:
    """OUT itself for a single video file; otherwise OUT/<stem>, made unique in input order."""
    if single:
        return [out]
    seen: dict[str, int] = {}
    dirs = []
    for v in videos:
        n = seen.get(v.stem, 0) + 1
        seen[v.stem] = n
        dirs.append(out / (v.stem if n == 1 else f"{v.stem}-{n}"))
    return dirs


def _run_one(video: Path, out_dir: Path, k: int, mode: str, fmt: str, quiet_bar: bool = True
             ) -> tuple[dict | None, str | None]:
    """Extract and write one video; returns (manifest, None) or (None, one-line error)."""
    from imaging.errors import ImagingError
    from imaging.extract import extract_candidates, write_candidates

    try:
        if quiet_bar:
            result = extract_candidates(video, k=k, mode=mode)
        else:
            from imaging.video import probe

            total = max(1, probe(video).frames)
            with progress(length=total, label=f"{video.name}", quiet=False) as bar:
                done = [0]

                def tick(index: int) -> None:
                    step = min(index + 1, total) - done[0]
                    if step > 0:
                        bar.update(step)
                        done[0] += step

                result = extract_candidates(video, k=k, mode=mode, on_frame=tick)
        path = write_candidates(result, out_dir, fmt=fmt)
        return json.loads(path.read_text(encoding="utf-8")), None
    except (ImagingError, OSError) as exc:
        text = str(exc) if isinstance(exc, ImagingError) else f"{video}: {exc.strerror or exc}"
        return None, " ".join(text.split())
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop a batch
        return None, f"{video}: internal error ({type(exc).__name__}: {' '.join(str(exc).split())})"


@click.command()
@click.argument("videos", nargs=-1, type=click.Path(path_type=Path))
@click.option("-o", "--out", "out", required=True, type=click.Path(path_type=Path),
              help="Output folder (one sub-folder per video when several are given).")
@click.option("-k", "k", default=8, show_default=True, type=click.IntRange(1, 200),
              help="Number of candidates per video.")
@click.option("--mode", type=click.Choice(_MODES), default="default", show_default=True,
              help="quick: keyframes only; default: skip B-frames; thorough: every frame.")
@click.option("--format", "fmt", type=click.Choice(_FORMATS), default="jpg", show_default=True,
              help="Image format of the candidates.")
@click.option("--jobs", "-j", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Videos processed in parallel (processes).")
@click.option("--force", is_flag=True, help="Redo videos whose manifest.json already exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest (a list for several videos).")
@click.option("--sample", is_flag=True, help="Use the built-in procedural sample video (no VIDEO needed).")
@quiet_option
def extract(videos: tuple[Path, ...], out: Path, k: int, mode: str, fmt: str, jobs: int, force: bool,
            as_json: bool, sample: bool, quiet: bool) -> None:
    """Pull K good, different candidate thumbnails out of each VIDEO (files or folders).

    Writes OUT/manifest.json (schema artbandit.candidates/1), the images and contact_sheet.png.
    """
    if sample and videos:
        raise click.UsageError("give VIDEO arguments or --sample, not both")
    if not sample and not videos:
        raise click.UsageError("give at least one VIDEO (file or folder), or --sample")
    if sample:
        from imaging.sample import cached_sample_video

        say("using the built-in sample video (generated once, then cached)", quiet)
        videos = (cached_sample_video(),)
    found, failures = _expand(videos)
    path_errors = len(failures)
    single = len(videos) == 1 and len(found) == 1 and not videos[0].is_dir()
    dirs = _out_dirs(found, out, single)
    manifests: list[dict] = []
    todo: list[tuple[Path, Path]] = []
    for video, out_dir in zip(found, dirs):
        existing = out_dir / "manifest.json"
        if existing.is_file() and not force:
            say(f"{video}: skipped, {existing} exists (use --force to redo)", quiet)
            try:
                manifests.append(json.loads(existing.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                pass
            continue
        todo.append((video, out_dir))

    results: list[tuple[Path, Path, dict | None, str | None]] = []
    if len(todo) == 1:
        video, out_dir = todo[0]
        manifest, err = _run_one(video, out_dir, k, mode, fmt, quiet_bar=quiet or not sys.stderr.isatty())
        results.append((video, out_dir, manifest, err))
    elif todo and jobs > 1:
        ctx = multiprocessing.get_context("spawn")  # no fork of a process holding decoder threads
        with ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=ctx) as pool:
            futures = {pool.submit(_run_one, v, d, k, mode, fmt): (v, d) for v, d in todo}
            with progress(length=len(todo), label="videos", quiet=quiet) as bar:
                for fut in as_completed(futures):
                    v, d = futures[fut]
                    results.append((v, d, *fut.result()))
                    bar.update(1)
        order = {v: i for i, (v, _) in enumerate(todo)}
        results.sort(key=lambda r: order[r[0]])
    elif todo:
        with progress(todo, label="videos", quiet=quiet) as items:
            for v, d in items:
                results.append((v, d, *_run_one(v, d, k, mode, fmt)))

    for video, out_dir, manifest, err in results:
        if err:
            failures.append(err)
            continue
        manifests.append(manifest)
        for w in manifest.get("warnings", []):
            say(f"warning: {w}", quiet)
        say(f"{video}: {plural(len(manifest['candidates']), 'candidate')} from "
            f"{plural(len(manifest['shots']), 'shot')} "
            f"-> {out_dir}", quiet)
    for err in failures:
        click.echo(f"Error: {err}", err=True)
    if as_json:
        click.echo(json.dumps(manifests[0] if single and manifests else manifests, indent=2))
    if failures:
        if len(found) + path_errors > 1:
            say(f"{len(failures)} of {plural(len(found) + path_errors, 'input')} failed", quiet)
        sys.exit(1)  # (click.Exit would be swallowed: main() runs click with standalone_mode=False)
