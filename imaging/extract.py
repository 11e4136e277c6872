"""Candidate thumbnails from a video in one decoding pass: the orchestration behind `artbandit extract`.

The pass reads small proxies of every decoded frame (imaging.frame_metrics), finds cuts, flashes and
dissolves as it goes (imaging.shots), and holds only the few best frames of the current shot as decoded
frames, so nothing is re-read or re-seeked and only kept frames are converted to full-size RGB.
After the pass: bars are measured on the held frames (imaging.bars), faces are detected on a short
list, and K diverse candidates are picked (imaging.select).

    from imaging.extract import extract_candidates, write_candidates
    result = extract_candidates("film.mp4", k=8, mode="default")
    write_candidates(result, "out/film", fmt="jpg")   # out/film/manifest.json, images, contact sheet
"""
from __future__ import annotations

import dataclasses
import heapq
import io
import json
import math
import os
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from PIL import Image

from safeio.atomic import atomic_dir
from safeio.errors import OutputFolderError
from safeio.progress import Progress
from imaging.bars import detect_bars
from imaging.errors import ImagingError
from imaging.faces import Box, detect_faces
from imaging.frame_metrics import (BLACK_BRIGHTNESS, RELATIVE_BLUR, Crop, FrameMetrics, hard_rejection,
                                   measure, proxies, signature)
from imaging.select import select_diverse
from imaging.similar import colour_histogram, look_alike
from imaging.sheet import tile_images
from imaging.shots import LOOKAHEAD, CutDetector, Dissolve, DissolveDetector, Shot, fade_ramps
from imaging.video import MODES, DecodedFrame, VideoInfo, VideoReader

SCHEMA = "artbandit.candidates/1"
FORMATS = {"jpg": ("JPEG", {"quality": 92}), "png": ("PNG", {}), "webp": ("WEBP", {"quality": 90})}
NEAR_CUT = 3  # frames on either side of a cut that are never candidates (motion blur, mid-change)
SEGMENT_S = 2.0  # long shots are held in segments of this length, so they can give several picks
HOLD_PER_SEGMENT = 3  # best distinct frames held per segment while its shot is running
MIN_FRAMES_FOR_BARS = 5  # fewer decoded frames than this: a shot's dark edges may be content
FADE_SLOPE = 0.006  # brightness change per frame that, sustained, means a fade is under way
SAME_FRAME = 0.02  # mean signature difference under which two held frames count as one
FACE_WEIGHT = 0.15
# Haar runs on a copy this wide (cost grows with pixels; thumbnail-worthy faces are large anyway)
FACE_WIDTH = {"quick": 320, "default": 480, "thorough": 640}
FACE_FULL_AREA = 0.05  # a face covering 5% of the frame earns the whole face bonus
PROGRESS_EVERY = 25  # decoded frames between progress calls (a few calls a second)


@dataclass
class Candidate:
    """One picked frame: the cropped full-resolution RGB image and everything known about it."""

    id: str
    frame: int
    time_s: float
    shot: int
    score: float
    image: np.ndarray
    crop: tuple[int, int, int, int]
    faces: list[Box]
    metrics: dict[str, float]
    features: dict[str, float] = field(default_factory=dict)

    def to_dict(self, file: str | None = None) -> dict:
        h, w = self.image.shape[:2]
        return {
            "id": self.id, "file": file, "frame": self.frame, "time_s": round(self.time_s, 3),
            "shot": self.shot, "score": round(self.score, 4), "width": w, "height": h,
            "crop": list(self.crop), "faces": [list(b) for b in self.faces],
            "metrics": self.metrics, "features": {k: round(float(v), 4) for k, v in self.features.items()},
        }


@dataclass
class CandidateSet:
    """The result of analysing one video (manifest data plus the candidate images)."""

    video: VideoInfo
    mode: str
    shots: list[Shot]
    candidates: list[Candidate]
    crop: tuple[int, int, int, int]
    stats: dict
    warnings: list[str] = field(default_factory=list)
    k: int | None = None  # candidates asked for (part of what identifies the output folder)

    def manifest(self, files: dict[str, str] | None = None) -> dict:
        files = files or {}
        video = self.video.to_dict()
        video["path"] = os.path.abspath(video["path"])
        return {
            "schema": SCHEMA,
            "video": video,
            "mode": self.mode,
            "content_crop": list(self.crop),
            "shots": [s.to_dict() for s in self.shots],
            "candidates": [c.to_dict(files.get(c.id)) for c in self.candidates],
            "stats": self.stats,
            "warnings": self.warnings,
        }


@dataclass(slots=True)
class _Rec:
    index: int
    time_s: float
    metrics: FrameMetrics
    sig: np.ndarray
    frame: DecodedFrame | None
    shot: int = -1
    grey: np.ndarray | None = None  # the uncropped proxy, until the frame joins its shot


class _Group:
    """The frames of the shot being decoded, with bounded heaps of the best ones per segment."""

    def __init__(self, transition: str, start: int, segment_frames: int):
        self.transition = transition
        self.start = start
        self.segment_frames = max(1, segment_frames)
        self.indices: list[int] = []
        self.times: list[float] = []
        self.brightness: list[float] = []
        self.sharpness: list[float] = []
        self.maxgrey: np.ndarray | None = None  # per-pixel maximum over the shot: its bars
        self.heaps: dict[int, list[tuple[float, int, _Rec]]] = {}

    def add(self, rec: _Rec) -> None:
        self.indices.append(rec.index)
        self.times.append(rec.time_s)
        self.brightness.append(rec.metrics.brightness)
        self.sharpness.append(rec.metrics.sharpness)
        if rec.grey is not None:
            if self.maxgrey is None:
                self.maxgrey = rec.grey.copy()
            elif self.maxgrey.shape == rec.grey.shape:
                np.maximum(self.maxgrey, rec.grey, out=self.maxgrey)
            rec.grey = None

    def offer(self, rec: _Rec, cap: int, excluded: Callable[[int], bool]) -> None:
        """Hold `rec` if it is among its segment's best distinct frames; `excluded(index)` tells
        frames found unusable since they were held (inside a dissolve)."""
        seg = (rec.index - self.start) // self.segment_frames
        if seg not in self.heaps:  # older segments keep their best frame only (memory stays bounded);
            # the one just ended keeps all of its frames a while longer: a dissolve is known late
            for key, heap in self.heaps.items():
                if key < seg - 1 and len(heap) > 1:
                    # never empty (the cap below reads every heap's best); _close drops excluded frames
                    usable = [it for it in heap if not excluded(it[2].index)] or heap
                    self.heaps[key] = [max(usable, key=lambda it: it[:2])]
            if len(self.heaps) >= cap:  # a very long shot: forget its weakest segment
                worst = min(self.heaps, key=lambda k_: max(self.heaps[k_], key=lambda it: it[:2])[:2])
                del self.heaps[worst]
            self.heaps[seg] = []
        heap = self.heaps[seg]
        item = (rec.metrics.quality, -rec.index, rec)
        for i, (_, _, other) in enumerate(heap):  # hold distinct frames, not a run of neighbours
            if float(np.abs(other.sig - rec.sig).mean()) < SAME_FRAME:
                if item[:2] > heap[i][:2]:
                    heap[i] = item
                    heapq.heapify(heap)
                return
        if len(heap) < HOLD_PER_SEGMENT:
            heapq.heappush(heap, item)
        elif item[:2] > heap[0][:2]:
            heapq.heapreplace(heap, item)


class _Analyzer:
    def __init__(self, info: VideoInfo, k: int, mode: str):
        self.info = info
        self.k = k
        self.mode = mode
        self.detector = CutDetector(adaptive=mode != "quick")
        # keyframes are seconds apart: a dissolve falls between two of them
        self.dissolver = DissolveDetector() if mode != "quick" else None
        self.dissolves: list[Dissolve] = []
        self.pending: deque[_Rec] = deque()
        self.cuts: deque[int] = deque()
        self.flashes: set[int] = set()
        self.group: _Group | None = None
        self.group_start = 0
        self.next_transition = "start"
        self.shots: list[Shot] = []
        self.shot_bars: dict[int, Crop] = {}  # per shot: videos mix letterboxed and full-frame material
        self.pool: dict[int, list[_Rec]] = {}  # shot -> kept frames, best first
        self.pool_cap = max(8 * k, 64)  # frames held after their shot ended (memory bound)
        self.held = 0
        self.rejected: Counter[str] = Counter()
        self.maxgrey: np.ndarray | None = None
        self.crop = Crop()
        self.decoded = 0
        self.near_cut = 0 if mode == "quick" else NEAR_CUT
        self.last_index = -1  # known once the stream has ended
        self.trend: deque[tuple[int, float]] = deque(maxlen=4)

    # -- the pass ---------------------------------------------------------------------------
    def push(self, df: DecodedFrame) -> None:
        grey, u, v = proxies(df.luma(), df.chroma(), df.full_range)
        if self.maxgrey is None or self.maxgrey.shape != grey.shape:
            self.maxgrey = grey.copy()
        else:
            np.maximum(self.maxgrey, grey, out=self.maxgrey)
        if self.decoded % 5 == 0:
            self.crop = detect_bars(self.maxgrey)
            c = self.crop
            # bars never change, so differences over the whole frame understate the content's
            self.detector.scale = 1.0 / max(0.16, (c.x1 - c.x0) * (c.y1 - c.y0))
        self.decoded += 1
        m = measure(self.crop.apply(grey), self.crop.apply(u), self.crop.apply(v))
        rec = _Rec(df.index, df.time_s, m, signature(grey, u, v), df, grey=grey)
        self.pending.append(rec)
        if self.dissolver is not None:
            self.dissolves += self.dissolver.push(df.index, df.time_s, rec.sig)
        self._events(self.detector.push(df.index, rec.sig))
        while len(self.pending) > LOOKAHEAD + NEAR_CUT:
            self._release(self.pending.popleft())

    def finish(self) -> None:
        self._events(self.detector.finish())
        if self.dissolver is not None:
            self.dissolves += self.dissolver.finish()
        self.last_index = self.pending[-1].index if self.pending else -1
        while self.pending:
            self._release(self.pending.popleft())
        self._close("end")
        # Sparse modes see one frame in several: a shot lasts until the next one starts.
        fps = self.info.fps
        for a, b in zip(self.shots, self.shots[1:]):
            if a.end_transition == "cut" and b.transition == "cut" and b.start_frame - 1 > a.end_frame:
                a.end_frame, a.end_s = b.start_frame - 1, b.start_frame / fps
        if self.shots and self.shots[-1].end_transition == "end" and self.info.frames - 1 > self.shots[-1].end_frame:
            last = self.shots[-1]
            last.end_frame, last.end_s = self.info.frames - 1, self.info.frames / fps
        for dissolve in self.dissolves:
            self._apply_dissolve(dissolve)

    def _in_dissolve(self, index: int) -> bool:
        return any(d.first <= index <= d.last for d in self.dissolves)

    def _apply_dissolve(self, d: Dissolve) -> None:
        """Drop held frames inside the dissolve (two pictures at once) and make it a shot boundary:
        relabel a cut found inside it, else split the shot that holds its centre. Applied after
        the pass because a dissolve is only known once it is over (shots closed after that
        already left its frames out)."""
        for shot, recs in list(self.pool.items()):
            keep = [r for r in recs if not d.first <= r.index <= d.last]
            self.rejected["dissolve"] += len(recs) - len(keep)
            self.held -= len(recs) - len(keep)
            if keep:
                self.pool[shot] = keep
            else:
                del self.pool[shot]
        shots = self.shots
        for prev, nxt in zip(shots, shots[1:]):
            if nxt.transition == "cut" and d.first <= nxt.start_frame <= d.last:
                prev.end_transition = nxt.transition = "dissolve"
                return
        holder = next((s for s in shots if s.start_frame < d.centre <= s.end_frame), None)
        if holder is None:
            return  # the centre is in a gap (black, a fade cut off its shot): nothing to split
        fps = self.info.fps
        tail = Shot(holder.index + 1, d.centre, holder.end_frame, d.centre / fps, holder.end_s,
                    "dissolve", holder.end_transition)
        holder.end_frame, holder.end_s, holder.end_transition = d.centre - 1, d.centre / fps, "dissolve"
        # renumber the shots after the split, and everything keyed by shot index
        for s in shots[holder.index + 1:]:
            s.index += 1
        shots.insert(holder.index + 1, tail)
        self.shot_bars = {i + (i > holder.index): bars for i, bars in self.shot_bars.items()}
        if holder.index in self.shot_bars:
            self.shot_bars[tail.index] = self.shot_bars[holder.index]
        pool: dict[int, list[_Rec]] = {}
        for shot, recs in self.pool.items():
            for r in recs:  # lists stay best first
                r.shot = shot + (shot > holder.index) + (shot == holder.index and r.index >= d.centre)
                pool.setdefault(r.shot, []).append(r)
        self.pool = pool

    def _events(self, events: list[tuple[str, int]]) -> None:
        for kind, index in events:
            if kind == "cut":
                self.cuts.append(index)
            else:
                self.flashes.add(index)

    def _release(self, rec: _Rec) -> None:
        while self.cuts and self.cuts[0] <= rec.index:
            self.cuts.popleft()
            self._close("cut")
            if self.next_transition != "fade":
                self.next_transition = "cut"
        m = rec.metrics
        if m.brightness < BLACK_BRIGHTNESS:
            self.rejected["black"] += 1
            self._close("fade")
            self.next_transition = "fade"
            return
        if self.group is None:
            self.group = _Group(self.next_transition, rec.index, int(round(SEGMENT_S * self.info.fps)))
            self.group_start = rec.index
            self.next_transition = "cut"
        self.group.add(rec)
        reason = hard_rejection(m)
        if reason is None and rec.index in self.flashes:
            reason = "flash"
        if reason is None and self._in_fade(rec):
            reason = "fade"
        if reason is None and self.near_cut:
            near_start = self.group.transition != "start" and rec.index - self.group_start < self.near_cut
            near_end = (bool(self.cuts) and self.cuts[0] - rec.index <= self.near_cut) or any(
                p.index - rec.index <= self.near_cut and p.metrics.brightness < BLACK_BRIGHTNESS
                for p in self.pending)
            near_end = near_end or 0 <= self.last_index - rec.index <= self.near_cut
            if self.pending and not near_end:  # sparse modes: the boundary may lie just after us
                nxt = self.pending[0]
                near_end = nxt.metrics.brightness < BLACK_BRIGHTNESS or (
                    bool(self.cuts) and self.cuts[0] == nxt.index)
            if near_start or near_end:
                reason = "near_cut"
        if reason:
            self.rejected[reason] += 1
            rec.frame = None
            return
        self.group.offer(rec, self.pool_cap, self._in_dissolve)

    def _in_fade(self, rec: _Rec) -> bool:
        """Brightness moving the same way by > FADE_SLOPE per frame over the last three steps."""
        hist = self.trend
        hist.append((rec.index, rec.metrics.brightness))
        if len(hist) < 4 or hist[-1][0] - hist[0][0] > 4 * 5:
            return False
        slopes = [(b1 - b0) / max(1, i1 - i0) for (i0, b0), (i1, b1) in zip(list(hist)[:-1], list(hist)[1:])]
        return all(sl > FADE_SLOPE for sl in slopes) or all(sl < -FADE_SLOPE for sl in slopes)

    def _close(self, end: str) -> None:
        g, self.group = self.group, None
        if g is None or not g.indices:
            return
        n = len(g.indices)
        head, tail = fade_ramps(g.brightness, g.transition == "fade", end == "fade")
        segments = [[item[2] for item in heap] for heap in g.heaps.values()]
        held = [r for seg in segments for r in seg]
        if head + tail >= n:
            self.rejected["fade"] += len(held)
            return
        first, last = g.indices[head], g.indices[n - 1 - tail]
        fps = self.info.fps
        shot = Shot(len(self.shots), first, last, first / fps, (last + 1) / fps,
                    g.transition if head == 0 else "fade", end)
        self.shots.append(shot)
        if n >= MIN_FRAMES_FOR_BARS and g.maxgrey is not None:
            self.shot_bars[shot.index] = detect_bars(g.maxgrey)
        median_sharp = float(np.median(g.sharpness))
        keep = []
        for seg in segments:
            ok = []
            for rec in seg:
                if not first <= rec.index <= last:
                    self.rejected["fade"] += 1
                elif self._in_dissolve(rec.index):
                    self.rejected["dissolve"] += 1
                elif rec.metrics.sharpness < RELATIVE_BLUR * median_sharp:
                    self.rejected["blurred"] += 1
                else:
                    rec.shot = shot.index
                    ok.append(rec)
            ok.sort(key=lambda r: (-r.metrics.quality, r.index))
            keep += ok[: 2 if len(segments) == 1 else 1]  # the best of each segment
        if keep:
            keep.sort(key=lambda r: (-r.metrics.quality, r.index))
            self.pool[shot.index] = keep
            self.held += len(keep)
            while self.held > self.pool_cap:  # thin the shot holding most, else drop the worst shot
                most = max(self.pool, key=lambda s_: (len(self.pool[s_]), -s_))
                if len(self.pool[most]) > 1:
                    self.pool[most].pop()
                else:
                    worst = min(self.pool, key=lambda s_: (self.pool[s_][0].metrics.quality, -s_))
                    del self.pool[worst]
                self.held -= 1

    # -- after the pass ---------------------------------------------------------------------
    def result(self) -> CandidateSet:
        info = self.info
        held = [r for recs in self.pool.values() for r in recs]
        if not held:
            reasons = ", ".join(f"{n} {r}" for r, n in self.rejected.most_common()) or "none"
            raise ImagingError(
                f"{info.path}: no usable frames among {self.decoded} decoded (rejected: {reasons})")
        crop = self._content_crop(held)
        # a few more than K: the perceptual duplicate test below may drop some
        short = select_diverse(held, self.k + max(2, self.k // 2),
                               score=lambda r: r.metrics.quality, shot=lambda r: r.shot,
                               sig=lambda r: r.sig)
        scored: list[tuple[float, _Rec, np.ndarray, list[Box], tuple[int, int, int, int], np.ndarray]] = []
        for rec in short:
            rgb = rec.frame.to_rgb()
            rec_crop = self._frame_crop(rec, crop)
            x0, y0, x1, y1 = rec_crop
            image = np.ascontiguousarray(rgb[y0:y1, x0:x1])
            faces = detect_faces(image, max_width=FACE_WIDTH[self.mode])
            area = faces[0].area / float(image.shape[0] * image.shape[1]) if faces else 0.0
            face_term = min(1.0, math.sqrt(area / FACE_FULL_AREA)) if faces else 0.0
            score = (1 - FACE_WEIGHT) * rec.metrics.quality + FACE_WEIGHT * face_term
            scored.append((score, rec, image, faces, rec_crop, colour_histogram(image)))
        final = select_diverse(scored, self.k, score=lambda t: t[0], shot=lambda t: t[1].shot,
                               sig=lambda t: t[1].sig, similar=lambda a, b: look_alike(a[5], b[5]))
        from imaging.features import image_features  # H2's module; imported late to keep startup cheap

        candidates = []
        for rank, (score, rec, image, faces, rec_crop, _) in enumerate(final, 1):
            candidates.append(Candidate(
                id=f"c{rank:02d}", frame=rec.index, time_s=rec.time_s, shot=rec.shot, score=score,
                image=image, crop=rec_crop, faces=faces, metrics=rec.metrics.to_dict(),
                features=image_features(image, faces)))
        for recs in self.pool.values():  # let the decoder's buffers go
            for r in recs:
                r.frame = None
        stats = {"decoded_frames": self.decoded, "shots": len(self.shots),
                 "rejected": dict(sorted(self.rejected.items()))}
        warnings = []
        if len(candidates) < self.k:
            warnings.append(f"{info.path}: only {len(candidates)} of {self.k} candidates: the other usable "
                            f"frames of its {len(self.shots)} shot(s) were near-duplicates or rejected")
        return CandidateSet(info, self.mode, self.shots, candidates, crop, stats, warnings, self.k)

    def _frame_crop(self, rec: _Rec, video_crop: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """The bars of this frame's shot (seen over all its frames on the proxy), with each edge
        placed exactly using the frame's own full-resolution luma when that agrees within a proxy pixel."""
        luma = rec.frame.luma()
        h, w = luma.shape
        own = detect_bars(luma).pixels(w, h)
        tol = 2 * int(math.ceil(w / self.maxgrey.shape[1])) + 4 if self.maxgrey is not None else 8
        bars = self.shot_bars.get(rec.shot)
        if bars is None:  # a short shot: trust its own bars if other shots have the same, or if they
            # are symmetric (letterboxing is; a dark sky or floor at one edge rarely is, to the pixel)
            known = [b.pixels(w, h) for b in self.shot_bars.values() if not b.is_full]
            same = any(all(abs(a - o) <= tol for a, o in zip(box, own)) for box in known)
            symmetric = own != (0, 0, w, h) and abs(own[0] - (w - own[2])) <= tol and \
                abs(own[1] - (h - own[3])) <= tol
            if not (same or symmetric):
                return video_crop
            bars = detect_bars(luma)
        approx = bars.pixels(w, h)
        borders = (0, 0, w, h)
        box = [b if a == b else (o if abs(o - a) <= tol else a) for a, o, b in zip(approx, own, borders)]
        return (box[0] & ~1, box[1] & ~1, box[2] & ~1, box[3] & ~1)

    def _content_crop(self, held: list[_Rec]) -> tuple[int, int, int, int]:
        """Bars measured at full resolution on the held frames (they span many shots)."""
        w, h = self.info.width, self.info.height
        if len(held) >= 3:
            mx = None
            for r in held:
                y = r.frame.luma()
                mx = y.copy() if mx is None else np.maximum(mx, y, out=mx)
            crop = detect_bars(mx)
            h, w = mx.shape
        else:
            crop = self.crop
        x0, y0, x1, y1 = crop.pixels(w, h)
        return (x0 & ~1, y0 & ~1, x1 & ~1, y1 & ~1)


def extract_candidates(
    video: str | os.PathLike,
    *,
    k: int = 8,
    mode: str = "default",
    on_frame: Callable[[int], None] | None = None,
    progress: Progress | None = None,
) -> CandidateSet:
    """Analyse `video` in one decoding pass and return up to `k` diverse, good candidate frames.

    `mode`: "quick" decodes keyframes only, "default" skips non-reference frames (never one another
    frame is built from), "thorough" decodes every frame (cuts exact to the frame). `progress(done, total, "frames")` (safeio.progress) is called
    every PROGRESS_EVERY decoded frames and at the end, in frames of the video (its header's count is
    the total); `on_frame(index)`, per decoded frame, is kept for older callers.
    """
    if mode not in MODES:
        raise ImagingError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if k < 1:
        raise ImagingError(f"k must be at least 1 (got {k})")
    with VideoReader(video, mode) as reader:
        analyzer = _Analyzer(reader.info, k, mode)
        total = reader.info.frames or None
        for n, df in enumerate(reader.frames(), 1):
            analyzer.push(df)
            if on_frame is not None:
                on_frame(df.index)
            if progress is not None and n % PROGRESS_EVERY == 0:
                progress(min(df.index + 1, total or df.index + 1), total, "frames")
        if reader.problem:
            analyzer.info = _as_decoded(reader.info, reader.data_end_s)
        analyzer.finish()
        result = analyzer.result()
        if progress is not None:
            progress(analyzer.info.frames or total or 0, analyzer.info.frames or total, "frames")
        if reader.problem:
            result.warnings.insert(0, f"{reader.path}: {reader.problem}")
        return result


def _as_decoded(info: VideoInfo, data_end_s: float) -> VideoInfo:
    """The header's info cut to what the file actually held (the manifest reports that)."""
    frames = min(info.frames, int(round(data_end_s * info.fps)))
    return dataclasses.replace(info, duration_s=round(data_end_s, 3), frames=frames,
                               header_duration_s=info.duration_s)


def _time_label(t: float) -> str:
    m, s = divmod(t, 60.0)
    return f"{int(m):02d}:{s:05.2f}"


def write_candidates(result: CandidateSet, out_dir: str | os.PathLike, fmt: str = "jpg", *,
                     force: bool = False) -> Path:
    """Write images, manifest.json and contact_sheet.png into `out_dir`, all or nothing.

    `out_dir` follows safeio.OutputFolder's rules: it may be new or empty, or artbandit's extract
    output of this same video and options (rewritten); another video's output is replaced only with
    `force`; a folder artbandit did not write, or one that is or holds the video, never (ImagingError,
    nothing touched). The folder is built aside and swapped in whole, with artbandit's marker.
    """
    if fmt not in FORMATS:
        raise ImagingError(f"unknown image format {fmt!r}; choose one of {', '.join(FORMATS)}")
    from imaging.batch import output_folder

    out = Path(out_dir)
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ImagingError(f"{out}: cannot write output, {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ImagingError(f"{out}: cannot write output, {parent} is not writable")
    k = result.k if result.k is not None else len(result.candidates)
    folder = output_folder(result.video.path, out, k=k, mode=result.mode, fmt=fmt)
    try:
        folder.check(force=force)
    except OutputFolderError as exc:
        raise ImagingError(str(exc)) from None
    pil_format, options = FORMATS[fmt]
    try:
        with atomic_dir(out) as tmp:
            files: dict[str, str] = {}
            images, captions = [], []
            for c in result.candidates:
                name = f"{c.id}_{c.frame:07d}.{fmt}"
                Image.fromarray(c.image).save(tmp / name, format=pil_format, **options)
                files[c.id] = name
                h, w = c.image.shape[:2]
                scale = min(1.0, 640.0 / max(h, w))  # the sheet needs small copies only
                small = cv2.resize(c.image, (max(1, round(w * scale)), max(1, round(h * scale))),
                                   interpolation=cv2.INTER_AREA) if scale < 1 else c.image
                images.append(Image.fromarray(small))
                captions.append(f"{c.id}  {_time_label(c.time_s)}  shot {c.shot}  {c.score:.2f}")
            manifest = result.manifest(files)
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
            buf = io.BytesIO()
            tile_images(images, captions).save(buf, format="PNG", compress_level=3)
            (tmp / "contact_sheet.png").write_bytes(buf.getvalue())
            folder.write_marker(tmp)
    except OSError as exc:
        raise ImagingError(f"{out}: cannot write output ({exc.strerror or exc})") from None
    return out / "manifest.json"
