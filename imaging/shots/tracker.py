"""The one-pass shot tracker behind extract: groups decoded frames into shots and holds the best few.

Every decoded frame is measured on small proxies (imaging.analysis.frame_metrics); the boundary detectors
(imaging.shots.boundaries: cuts, flashes, dissolves; black runs and fade ramps) decide where shots begin and
end; frames that can never be candidates are dropped as they pass (black, over-exposed, uniform,
blurred, flashes, inside fades or dissolves, within NEAR_CUT frames of a cut), and each running
shot keeps only its best distinct frames per SEGMENT_S segment, so memory stays bounded and
nothing is re-read. imaging.candidates.finalists chooses the K candidates from what the tracker holds.
"""

from __future__ import annotations

import heapq
from collections import Counter, deque
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from imaging.analysis.bars import detect_bars
from imaging.analysis.frame_metrics import (
    RELATIVE_BLUR,
    Crop,
    FrameMetrics,
    difference,
    hard_rejection,
    measure,
    proxies,
    signature,
)
from imaging.decode.video import DecodedFrame, VideoInfo
from imaging.shots.boundaries import (
    LOOKAHEAD,
    Boundary,
    CutDetector,
    DissolveDetector,
    FadeTrend,
    FrameSample,
    Shot,
    fade_ramps,
    is_black,
)

NEAR_CUT = 3  # frames on either side of a cut that are never candidates (motion blur, mid-change)
SEGMENT_S = 2.0  # long shots are held in segments of at most this length, so they give several picks
MIN_SEGMENT_S = 0.4  # ... and at least this: a short clip is cut into about 2K segments (distinct moments)
HOLD_PER_SEGMENT = 4  # best distinct frames held per segment while its shot is running
# Representativeness (ffmpeg's thumbnail filter picks the frame closest to its batch's mean): a frame
# whose signature is far from its segment's mean, relative to the segment's median distance, shows
# something transient (a hand across the lens, a passer-by cutting in). `atypical` is that ratio.
ATYPICAL_FREE = 1.0  # frames up to the median distance are typical; no penalty
ATYPICAL_SPAN = 1.2  # the penalty grows to its full weight over this much more ratio
ATYPICAL_WEIGHT = 0.3  # quality points a fully atypical frame loses when held frames are ranked
# Smear: a moving, motion-blurred object (a passer-by's legs, a hand) covers part of a picture that is
# sharp in the shot's other frames. Per cell of a SMEAR_GRID, the frame's detail (Laplacian energy) is
# compared with the typical detail there: the per-cell median over a segment's frames, then the
# median of those over the segments within SMEAR_WINDOW_S (a passer-by can fill a whole short
# segment). `smear` is the share of cells below SMEAR_DROP of it, counted only when at least
# SMEAR_STABLE of the cells keep their typical detail (within 1.5x): a pan moves detail through
# every cell (the synthetic test pans scored 0.15-0.24 without this gate, <= 0.17 with it), an
# object passing in front of a steady picture takes it away from some. bikes.mp4: a white car
# blurring past the cyclist 0.15, the pedestrian's legs past the bike 0.05-0.07, those set-ups
# clean <= 0.01; Big Buck Bunny's moving character <= 0.02.
SMEAR_GRID = (12, 8)
SMEAR_WINDOW_S = 1.0  # when the shot ends, the reference is the best detail within this of the frame
# (a passer-by can fill a whole short segment; a long pan changes what each cell shows)
SMEAR_DROP = 0.4
SMEAR_STABLE = 0.4
SMEAR_FLOOR = 20.0  # cells whose best detail is below this (flat sky, walls) say nothing
SMEAR_FREE = 0.045  # smear up to this is ordinary motion; the penalty grows to 1 over SMEAR_SPAN more
SMEAR_SPAN = 0.09
SMEAR_WEIGHT = 0.3
SMEAR_REJECT = 0.2  # from this share a finalist is rejected as `smeared` (imaging.candidates.finalists)


def atypical_penalty(ratio: float) -> float:
    """0..1: how transient a frame looks (its distance to the segment's mean over the median distance)."""
    return min(1.0, max(0.0, (ratio - ATYPICAL_FREE) / ATYPICAL_SPAN))


def smear_penalty(smear: float) -> float:
    """0..1 from the share of smeared cells (see SMEAR_GRID)."""
    return min(1.0, max(0.0, (smear - SMEAR_FREE) / SMEAR_SPAN))


def smear_of(cells: np.ndarray | None, typical: np.ndarray) -> float:
    """Share of the cells (with detail worth judging) far less detailed than `typical` there."""
    judged = typical >= SMEAR_FLOOR
    if cells is None or not judged.any():
        return 0.0
    c, t = cells[judged], typical[judged]
    if float(np.mean((c > t / 1.5) & (c < t * 1.5))) < SMEAR_STABLE:
        return 0.0  # detail moved everywhere: a pan or a change of picture, not an object in front
    return float(np.mean(c < SMEAR_DROP * t))


def detail_cells(grey: np.ndarray) -> np.ndarray:
    """Mean Laplacian energy per cell of SMEAR_GRID over a grey proxy (float32, 96 values)."""
    lap = cv2.Laplacian(grey, cv2.CV_32F, ksize=3)
    return cv2.resize(lap * lap, SMEAR_GRID, interpolation=cv2.INTER_AREA).ravel()


def segment_seconds(duration_s: float, k: int) -> float:
    """Segment length: about 2K segments over the video, between MIN_SEGMENT_S and SEGMENT_S."""
    if duration_s <= 0:
        return SEGMENT_S
    return min(SEGMENT_S, max(MIN_SEGMENT_S, duration_s / (2 * k)))


MIN_FRAMES_FOR_BARS = 5  # fewer decoded frames than this: a shot's dark edges may be content
SAME_FRAME = 0.02  # mean signature difference under which two held frames count as one


@dataclass(slots=True)
class FrameRecord:
    """One decoded frame as the tracker sees it: measurements, signature, and (while held) the frame."""

    index: int
    time_s: float
    metrics: FrameMetrics
    sig: np.ndarray
    frame: DecodedFrame | None
    shot: int = -1
    grey: np.ndarray | None = None  # the uncropped proxy, until the frame joins its shot
    atypical: float = 1.0  # distance to its segment's mean signature / the segment's median distance
    cells: np.ndarray | None = None  # detail_cells of the proxy (for smear)
    smear: float = 0.0  # share of cells far less detailed than the segment's best there

    @property
    def held(self) -> DecodedFrame:
        """The frame, for a record still holding it (finalists are; a released one is an error)."""
        if self.frame is None:
            raise RuntimeError(f"frame {self.index} was released before it was read")
        return self.frame

    @property
    def rank(self) -> float:
        """Quality less the transient-frame penalty: how held frames compete."""
        return (
            self.metrics.quality
            - ATYPICAL_WEIGHT * atypical_penalty(self.atypical)
            - SMEAR_WEIGHT * smear_penalty(self.smear)
        )


class ShotGroup:
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
        self.heaps: dict[int, list[tuple[float, int, FrameRecord]]] = {}
        self.seg_sigs: dict[int, list[np.ndarray]] = {}  # signatures of every frame of open segments
        self.seg_cells: dict[int, list[np.ndarray]] = {}  # per open segment: every frame's detail cells
        self.seg_typical: dict[int, np.ndarray] = {}  # per settled segment: median detail per cell

    def segment(self, index: int) -> int:
        return (index - self.start) // self.segment_frames

    def settle(self, seg: int) -> None:
        """Measure how typical each held frame of segment `seg` is, once all its frames are seen."""
        sigs = self.seg_sigs.pop(seg, None)
        cells = self.seg_cells.pop(seg, None)
        if cells:
            self.seg_typical[seg] = np.median(np.stack(cells), axis=0)
        if not sigs or seg not in self.heaps:
            return
        if len(sigs) == 1:  # a lone frame is its segment's typical look (what the median gives)
            for _, _, rec in self.heaps[seg]:
                rec.atypical = 0.0
            return
        if seg in self.seg_typical:
            for _, _, rec in self.heaps[seg]:
                rec.smear = smear_of(rec.cells, self.seg_typical[seg])
        stack = np.stack(sigs)
        # the element-wise median is the segment's typical look even when a transient object is
        # in up to half of its frames (a mean, as ffmpeg's filter takes, is pulled towards it)
        typical = np.median(stack, axis=0)
        dist = np.array([difference(x, typical) for x in stack])
        med = float(np.median(dist)) + 0.004  # a still shot: every frame is typical
        for _, _, rec in self.heaps[seg]:
            rec.atypical = difference(rec.sig, typical) / med

    def settle_all(self, window_frames: int) -> None:
        """Settle the open segments, then measure smear again against the best detail within
        `window_frames` of each held frame (segments nearby), now that the whole shot is known."""
        for seg in list(self.seg_sigs):
            self.settle(seg)
        reach = max(1, window_frames // self.segment_frames)
        for seg, heap in self.heaps.items():
            near = [b for s_, b in self.seg_typical.items() if abs(s_ - seg) <= reach]
            if len(near) >= 2:
                typical = np.median(near, axis=0)
                for _, _, rec in heap:
                    rec.smear = max(rec.smear, smear_of(rec.cells, typical))

    def add(self, rec: FrameRecord) -> None:
        self.indices.append(rec.index)
        self.times.append(rec.time_s)
        self.brightness.append(rec.metrics.brightness)
        self.sharpness.append(rec.metrics.sharpness)
        seg = self.segment(rec.index)
        self.seg_sigs.setdefault(seg, []).append(rec.sig)
        if rec.cells is not None:
            self.seg_cells.setdefault(seg, []).append(rec.cells)
        if rec.grey is not None:
            if self.maxgrey is None:
                self.maxgrey = rec.grey.copy()
            elif self.maxgrey.shape == rec.grey.shape:
                np.maximum(self.maxgrey, rec.grey, out=self.maxgrey)
            rec.grey = None

    def offer(self, rec: FrameRecord, cap: int, excluded: Callable[[int], bool]) -> None:
        """Hold `rec` if it is among its segment's best distinct frames; `excluded(index)` tells
        frames found unusable since they were held (inside a dissolve)."""
        seg = self.segment(rec.index)
        if seg not in self.heaps:  # older segments keep their best frame only (memory stays bounded);
            # the one just ended keeps all of its frames a while longer: a dissolve is known late
            for key in [key_ for key_ in self.seg_sigs if key_ < seg - 1]:
                self.settle(key)
            for key, heap in self.heaps.items():
                if key < seg - 1 and len(heap) > 1:
                    # never empty (the cap below reads every heap's best); _close drops excluded frames
                    usable = [it for it in heap if not excluded(it[2].index)] or heap
                    self.heaps[key] = [max(usable, key=lambda it: (it[2].rank, it[1]))]
            if len(self.heaps) >= cap:  # a very long shot: forget its weakest segment
                worst = min(self.heaps, key=lambda k_: max(self.heaps[k_], key=lambda it: it[:2])[:2])
                del self.heaps[worst]
                self.seg_sigs.pop(worst, None)
                self.seg_cells.pop(worst, None)
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


class ShotTracker:
    """The single pass: push every decoded frame, then `finish()`. Afterwards `shots` are the video's
    shots, `pool` the few best usable frames of each (decoded frames still held), `rejected` counts
    why frames were dropped, `shot_bars`/`crop`/`maxgrey` the bars seen."""

    def __init__(self, info: VideoInfo, k: int, mode: str):
        self.info = info
        self.k = k
        self.mode = mode
        self.detector = CutDetector(adaptive=mode != "quick")
        # keyframes are seconds apart: a dissolve falls between two of them
        self.dissolver = DissolveDetector() if mode != "quick" else None
        self.dissolves: list[Boundary] = []
        self.pending: deque[FrameRecord] = deque()
        self.cuts: deque[int] = deque()
        self.flashes: set[int] = set()
        self.group: ShotGroup | None = None
        self.group_start = 0
        self.next_transition = "start"
        self.shots: list[Shot] = []
        self.shot_bars: dict[int, Crop] = {}  # per shot: videos mix letterboxed and full-frame material
        self.pool: dict[int, list[FrameRecord]] = {}  # shot -> kept frames, best first
        self.pool_cap = max(8 * k, 64)  # frames held after their shot ended (memory bound)
        self.segment_frames = int(round(segment_seconds(info.duration_s, k) * info.fps))
        self.held = 0
        self.rejected: Counter[str] = Counter()
        self.maxgrey: np.ndarray | None = None
        self.crop = Crop()
        self.decoded = 0
        self.near_cut = 0 if mode == "quick" else NEAR_CUT
        self.last_index = -1  # known once the stream has ended
        self.trend = FadeTrend()

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
        inside = self.crop.apply(grey)
        m = measure(inside, None if u is None else self.crop.apply(u), None if v is None else self.crop.apply(v))
        # quick mode's shots are one keyframe each: no other frame of the moment to compare detail
        # with, so smear is always 0 there and its detail grid is not computed
        cells = detail_cells(inside) if self.mode != "quick" else None
        rec = FrameRecord(df.index, df.time_s, m, signature(grey, u, v), df, grey=grey, cells=cells)
        self.pending.append(rec)
        sample = FrameSample(df.index, df.time_s, rec.sig, m.brightness)
        if self.dissolver is not None:
            self.dissolves += self.dissolver.push(sample)
        self._events(self.detector.push(sample))
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

    def _apply_dissolve(self, d: Boundary) -> None:
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
        tail = Shot(
            holder.index + 1,
            d.centre,
            holder.end_frame,
            d.centre / fps,
            holder.end_s,
            "dissolve",
            holder.end_transition,
        )
        holder.end_frame, holder.end_s, holder.end_transition = d.centre - 1, d.centre / fps, "dissolve"
        # renumber the shots after the split, and everything keyed by shot index
        for s in shots[holder.index + 1 :]:
            s.index += 1
        shots.insert(holder.index + 1, tail)
        self.shot_bars = {i + (i > holder.index): bars for i, bars in self.shot_bars.items()}
        if holder.index in self.shot_bars:
            self.shot_bars[tail.index] = self.shot_bars[holder.index]
        pool: dict[int, list[FrameRecord]] = {}
        for shot, recs in self.pool.items():
            for r in recs:  # lists stay best first
                r.shot = shot + (shot > holder.index) + (shot == holder.index and r.index >= d.centre)
                pool.setdefault(r.shot, []).append(r)
        self.pool = pool

    def _events(self, events: list[Boundary]) -> None:
        for b in events:
            if b.kind == "cut":
                self.cuts.append(b.first)
            else:
                self.flashes.add(b.first)

    def _release(self, rec: FrameRecord) -> None:
        while self.cuts and self.cuts[0] <= rec.index:
            self.cuts.popleft()
            self._close("cut")
            if self.next_transition != "fade":
                self.next_transition = "cut"
        m = rec.metrics
        if is_black(m.brightness):
            self.rejected["black"] += 1
            self._close("fade")
            self.next_transition = "fade"
            return
        if self.group is None:
            self.group = ShotGroup(self.next_transition, rec.index, self.segment_frames)
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
                p.index - rec.index <= self.near_cut and is_black(p.metrics.brightness) for p in self.pending
            )
            near_end = near_end or 0 <= self.last_index - rec.index <= self.near_cut
            if self.pending and not near_end:  # sparse modes: the boundary may lie just after us
                nxt = self.pending[0]
                near_end = is_black(nxt.metrics.brightness) or (bool(self.cuts) and self.cuts[0] == nxt.index)
            if near_start or near_end:
                reason = "near_cut"
        if reason:
            self.rejected[reason] += 1
            rec.frame = None
            return
        self.group.offer(rec, self.pool_cap, self._in_dissolve)

    def _in_fade(self, rec: FrameRecord) -> bool:
        return self.trend.fading(rec.index, rec.metrics.brightness)

    def _close(self, end: str) -> None:
        g, self.group = self.group, None
        if g is None or not g.indices:
            return
        n = len(g.indices)
        head, tail = fade_ramps(g.brightness, g.transition == "fade", end == "fade")
        g.settle_all(int(round(SMEAR_WINDOW_S * self.info.fps)))
        segments = [[item[2] for item in heap] for heap in g.heaps.values()]
        held = [r for seg in segments for r in seg]
        if head + tail >= n:
            self.rejected["fade"] += len(held)
            return
        first, last = g.indices[head], g.indices[n - 1 - tail]
        fps = self.info.fps
        shot = Shot(
            len(self.shots), first, last, first / fps, (last + 1) / fps, g.transition if head == 0 else "fade", end
        )
        self.shots.append(shot)
        if n >= MIN_FRAMES_FOR_BARS and g.maxgrey is not None:
            self.shot_bars[shot.index] = detect_bars(g.maxgrey)
        median_sharp = float(np.median(g.sharpness)) if n > 1 else g.sharpness[0]
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
            ok.sort(key=lambda r: (-r.rank, r.index))
            keep += ok[:2]  # the best two of each segment: other moments for the count rule
        if keep:
            keep.sort(key=lambda r: (-r.rank, r.index))
            self.pool[shot.index] = keep
            self.held += len(keep)
            while self.held > self.pool_cap:  # thin the shot holding most, else drop the worst shot
                most = max(self.pool, key=lambda s_: (len(self.pool[s_]), -s_))
                if len(self.pool[most]) > 1:
                    self.pool[most].pop()
                else:
                    worst = min(self.pool, key=lambda s_: (self.pool[s_][0].rank, -s_))
                    del self.pool[worst]
                self.held -= 1
