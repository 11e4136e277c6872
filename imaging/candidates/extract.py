"""Candidate thumbnails from a video in one decoding pass: the orchestration behind `artbandit extract`.

The pass (imaging.shots.tracker) reads small proxies of every decoded frame, finds cuts, flashes,
fades and dissolves as it goes (imaging.shots.boundaries), and holds only the few best frames of
the current shot as decoded frames, so nothing is re-read or re-seeked and only kept frames are
converted to full-size RGB. After the pass imaging.candidates.finalists chooses K diverse
candidates; imaging.candidates.manifest holds the records, the manifest and `write_candidates`.

    from imaging import extract_candidates, write_candidates
    result = extract_candidates("film.mp4", k=8, mode="default")
    write_candidates(result, "out/film", fmt="jpg")   # out/film/manifest.json, images, contact sheet
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable

from imaging.analysis.likeness import LOOK_ALIKE
from imaging.candidates.finalists import pick_candidates
from imaging.candidates.manifest import CandidateSet
from imaging.decode.video import MODES, VideoInfo, VideoReader
from imaging.errors import ImagingError
from imaging.shots.tracker import ShotTracker
from safeio.progress import Progress

PROGRESS_EVERY = 25  # decoded frames between progress calls (a few calls a second)


def extract_candidates(
    video: str | os.PathLike,
    *,
    k: int = 8,
    mode: str = "default",
    on_frame: Callable[[int], None] | None = None,
    progress: Progress | None = None,
    min_count: int | None = None,
    likeness: float | None = None,
) -> CandidateSet:
    """Analyse `video` in one decoding pass and return up to `k` diverse, good candidate frames.

    `mode`: "quick" decodes keyframes only, "default" skips non-reference frames (never one another
    frame is built from), "thorough" decodes every frame (cuts exact to the frame). `progress(done, total, "frames")` (safeio.progress) is called
    every PROGRESS_EVERY decoded frames and at the end, in frames of the video (its header's count is
    the total); `on_frame(index)`, per decoded frame, is kept for older callers.
    `likeness` (0..1, default imaging.analysis.likeness.LOOK_ALIKE): structural likeness from which two frames
    are one picture; `min_count` (default `k`): when fewer distinct pictures exist, fill up to this
    many with usable frames from other moments, marked `look_alike` (imaging.candidates.finalists).
    """
    if mode not in MODES:
        raise ImagingError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if k < 1:
        raise ImagingError(f"k must be at least 1 (got {k})")
    if min_count is not None and not 0 <= min_count:
        raise ImagingError(f"min_count must be at least 0 (got {min_count})")
    if likeness is not None and not 0.0 < likeness <= 1.0:
        raise ImagingError(f"likeness must be in (0, 1] (got {likeness})")
    with VideoReader(video, mode) as reader:
        tracker = ShotTracker(reader.info, k, mode)
        total = reader.info.frames or None
        for n, df in enumerate(reader.frames(), 1):
            tracker.push(df)
            if on_frame is not None:
                on_frame(df.index)
            if progress is not None and n % PROGRESS_EVERY == 0:
                progress(min(df.index + 1, total or df.index + 1), total, "frames")
        if reader.problem:
            tracker.info = _as_decoded(reader.info, reader.data_end_s)
        tracker.finish()
        result = pick_candidates(tracker, min_count=min_count, likeness=LOOK_ALIKE if likeness is None else likeness)
        result.options = {"min_count": min_count, "likeness": likeness}
        if progress is not None:
            progress(tracker.info.frames or total or 0, tracker.info.frames or total, "frames")
        if reader.problem:
            result.warnings.insert(0, f"{reader.path}: {reader.problem}")
        return result


def _as_decoded(info: VideoInfo, data_end_s: float) -> VideoInfo:
    """The header's info cut to what the file actually held (the manifest reports that)."""
    frames = min(info.frames, int(round(data_end_s * info.fps)))
    return dataclasses.replace(info, duration_s=round(data_end_s, 3), frames=frames, header_duration_s=info.duration_s)
