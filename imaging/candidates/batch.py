"""Extract over many videos: which files, where each one's output goes, what to skip, redo or refuse.

The CLI (`artbandit extract`) and batch jobs share this: `plan_extract` expands files and folders,
names one output folder per video, and asks each folder's `safeio.OutputFolder` what writing there
means *before* any decoding: artbandit's own output for this very video and options is skipped
(reported as it is on disk), `force` replaces only artbandit's own extract output, and a stranger's
folder, an input's folder or another video's output is a one-line error for that video only.
`run_extract_job` does one video; it is a module-level function of a picklable job, so any process
pool or task engine can map it (the CLI uses safeio.engine).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from imaging.candidates.manifest import output_folder
from imaging.decode.video import VIDEO_EXTENSIONS
from imaging.errors import ImagingError
from safeio.errors import OutputFolderError, one_line
from safeio.progress import Progress


@dataclass(frozen=True)
class ExtractJob:
    """One video to extract into one folder (small and picklable: a task for any engine)."""

    video: Path
    out_dir: Path
    k: int = 8
    mode: str = "default"
    fmt: str = "jpg"
    force: bool = False
    min_count: int | None = None  # None: K (imaging.candidates.finalists)
    likeness: float | None = None  # None: imaging.analysis.likeness.LOOK_ALIKE


@dataclass
class ExtractPlan:
    """What a batch will do: jobs to run, outputs already there (skipped), and per-input errors."""

    jobs: list[ExtractJob] = field(default_factory=list)
    skipped: list[tuple[Path, Path, dict]] = field(default_factory=list)  # video, folder, its manifest
    errors: list[str] = field(default_factory=list)
    inputs: int = 0  # videos found plus paths that failed before a video was found


def expand_inputs(paths: Iterable[str | os.PathLike]) -> tuple[list[Path], list[str]]:
    """Video files named directly or found in named folders, plus one error per unusable path."""
    videos: list[Path] = []
    errors: list[str] = []
    for raw in paths:
        p = Path(raw)
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


def output_dirs(videos: Sequence[Path], out: Path, single: bool) -> list[Path]:
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


def plan_extract(
    paths: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    k: int = 8,
    mode: str = "default",
    fmt: str = "jpg",
    force: bool = False,
    min_count: int | None = None,
    likeness: float | None = None,
) -> ExtractPlan:
    """Decide, before decoding anything, what extracting `paths` into `out` will do per video."""
    given = [Path(p) for p in paths]
    videos, errors = expand_inputs(given)
    plan = ExtractPlan(errors=errors, inputs=len(videos) + len(errors))
    single = len(given) == 1 and len(videos) == 1 and not given[0].is_dir()
    for video, out_dir in zip(videos, output_dirs(videos, Path(out), single)):
        folder = output_folder(video, out_dir, k=k, mode=mode, fmt=fmt, min_count=min_count, likeness=likeness)
        try:
            state = folder.check(force=force)
        except OutputFolderError as exc:
            plan.errors.append(f"{video}: {exc}")
            continue
        if state == "same":
            try:
                manifest = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                state = "replace"  # our own folder, but damaged: make it again
            else:
                plan.skipped.append((video, out_dir, manifest))
                continue
        plan.jobs.append(ExtractJob(video, out_dir, k, mode, fmt, force or state == "replace", min_count, likeness))
    return plan


def run_extract_job(job: ExtractJob, progress: Progress | None = None) -> dict:
    """Extract and write one video; returns the manifest as written (ImagingError on bad input)."""
    from imaging.candidates.extract import extract_candidates
    from imaging.candidates.manifest import write_candidates

    result = extract_candidates(
        job.video, k=job.k, mode=job.mode, progress=progress, min_count=job.min_count, likeness=job.likeness
    )
    path = write_candidates(result, job.out_dir, fmt=job.fmt, force=job.force)
    return json.loads(path.read_text(encoding="utf-8"))


def run_extract_task(job: ExtractJob, progress: Progress | None = None) -> tuple[dict | None, str | None]:
    """`run_extract_job` for a batch: (manifest, None) or (None, one-line error), never raises."""
    try:
        return run_extract_job(job, progress), None
    except (ImagingError, OutputFolderError) as exc:
        return None, one_line(exc)
    except OSError as exc:
        return None, f"{job.video}: {exc.strerror or exc}"
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop a batch
        return None, f"{job.video}: internal error ({one_line(exc, typed=True)})"
