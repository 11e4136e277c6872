"""Shot boundaries: hard cuts (streaming, exact to the decoded frame), flashes, fades to/from black,
and dissolves (cross-fades between two pictures). Every rule about where a shot begins or ends lives
here; imaging.shots.tracker applies them during the single pass.

One detector interface, as PySceneDetect's SceneDetector: a `ShotDetector` takes every decoded
frame as a `FrameSample` (index, time, signature, brightness) through `push`, and returns the
`Boundary`s it has become sure of (possibly about earlier frames: detectors look ahead), plus the
rest at `finish()`. `CutDetector` (cuts and flashes) and `DissolveDetector` (cross-fades) work this
way. Fades are decided frame by frame instead, because a black frame closes the running shot the
moment it is seen: `is_black`, `FadeTrend` (brightness sliding towards or away from black) and
`fade_ramps` (the ramp cut off a shot's ends).

What the numbers measure: a frame's signature (imaging.analysis.frame_metrics.signature) is a 32x18 luma +
16x9 chroma thumbnail (0..1 per pixel) and a 16-bin luma histogram; `difference` of two signatures
is 0.6 x the mean absolute pixel difference + 0.2 x half the histogram's L1 shift, so 0 = the same
picture and ~0.3 = unrelated pictures. On bikes.mp4 (thorough) consecutive frames inside a shot
differ by 0.011 (median), 0.057 (99th percentile), 0.062 at most; its five cuts by 0.13-0.27.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from imaging.analysis.frame_metrics import BLACK_BRIGHTNESS, SIG_PIXELS, SIG_SIZE, difference

LOOKAHEAD = 2  # decoded frames needed after a frame before deciding about it


@dataclass
class Shot:
    """A run of frames between boundaries; `transition` says how it began, `end_transition` how it ended."""

    index: int
    start_frame: int
    end_frame: int
    start_s: float
    end_s: float
    transition: str  # "start" | "cut" | "fade"
    end_transition: str = "end"  # "cut" | "fade" | "end"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["start_s"], d["end_s"] = round(self.start_s, 3), round(self.end_s, 3)
        return d


@dataclass(frozen=True)
class FrameSample:
    """What every detector is given per decoded frame."""

    index: int  # frame number (presentation time x fps)
    time_s: float
    sig: np.ndarray  # imaging.analysis.frame_metrics.signature
    brightness: float = 0.5  # mean luma 0..1 (inside the bars)


@dataclass(frozen=True)
class Boundary:
    """A detector's finding. kind "cut": a new shot starts at `first` (= last = centre); "flash": frame
    `first` is a flash (not a boundary, never a candidate); "dissolve": frames first..last mix two
    shots, the new one starts at `centre`."""

    kind: str
    first: int
    last: int
    centre: int


class ShotDetector(ABC):
    """Streaming boundary detector: `push` every decoded frame in order, then `finish` once."""

    @abstractmethod
    def push(self, frame: FrameSample) -> list[Boundary]:
        """Boundaries now certain (they may concern earlier frames)."""

    @abstractmethod
    def finish(self) -> list[Boundary]:
        """The boundaries still pending at the end of the video."""


class CutDetector(ShotDetector):
    """Hard cuts and flashes, decided LOOKAHEAD decoded frames late.

    threshold: signature difference (see the module docstring; unitless, 0..~0.3) above which a jump
        can be a cut. 0.07 sits above everything seen inside bikes.mp4's shots (0.062 at most) and
        well below its cuts (0.13+); in busy shots the adaptive limit takes over.
    ratio: with `adaptive`, a cut must also exceed ratio x the median jump of the shot's last
        `window` frames + 0.01, and 1.6 x the previous jump (fast motion raises every jump; a cut
        is a peak). 2.0 and 25 frames (1 s at 25 fps): a pan's jumps vary by less than 2x within
        a second.
    adaptive: False for keyframes only (seconds apart: recent motion says nothing, no flashes).
    scale: multiplies differences (1 / share of the frame not covered by bars; set by the caller).
    """

    def __init__(self, threshold: float = 0.07, ratio: float = 2.0, window: int = 25, adaptive: bool = True):
        self.adaptive = adaptive  # False for keyframes only: seconds apart, "recent motion" means nothing
        self.threshold = threshold
        self.ratio = ratio
        self.recent: deque[float] = deque(maxlen=window)
        self.buf: deque[tuple[int, np.ndarray]] = deque()
        self.ref: np.ndarray | None = None  # signature of the last frame that was not a flash
        self.scale = 1.0  # multiplies differences (1 / share of the frame that is not bars)

    def _limit(self) -> float:
        if self.adaptive and len(self.recent) >= 3:
            return max(self.threshold, self.ratio * float(np.median(self.recent)) + 0.01, 1.6 * self.recent[-1])
        return self.threshold

    def _decide(self) -> list[tuple[str, int]]:
        index, sig = self.buf.popleft()
        if self.ref is None:
            self.ref = sig
            return []
        d = difference(self.ref, sig) * self.scale
        limit = self._limit()
        if d > limit:
            residual, gain = _gain_difference(self.ref, sig)
            if abs(gain - 1.0) > 0.02 and residual * self.scale < 0.25 * d:
                d = 0.0  # a step of a fade: the picture only got brighter or darker
        if d > limit:
            # A cut only if the following frames stay away from the frame before it (else: a flash),
            # and the change is a peak, not part of continuous fast motion.
            for _, nxt in self.buf if self.adaptive else ():  # keyframes are seconds apart: no flashes
                if difference(self.ref, nxt) * self.scale < 0.5 * limit:
                    return [("flash", index)]  # keep self.ref: the flash never becomes a reference
            if not self.adaptive or not self.buf or d > 1.6 * difference(sig, self.buf[0][1]) * self.scale:
                self.ref = sig
                self.recent.clear()
                return [("cut", index)]
        self.recent.append(d)
        self.ref = sig
        return []

    def push(self, frame: FrameSample) -> list[Boundary]:
        self.buf.append((frame.index, frame.sig))
        if len(self.buf) > LOOKAHEAD:
            return _boundaries(self._decide())
        return []

    def finish(self) -> list[Boundary]:
        events: list[tuple[str, int]] = []
        while self.buf:
            events += self._decide()
        return _boundaries(events)


def _boundaries(events: list[tuple[str, int]]) -> list[Boundary]:
    return [Boundary(kind, index, index, index) for kind, index in events]


def _gain_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(luma difference left after the best global gain a -> b, that gain): small within a fade."""
    n = SIG_SIZE[0] * SIG_SIZE[1]
    ya, yb = a[:n], b[:n]
    den = float(ya @ ya)
    if den <= 1e-9:
        return float(np.abs(yb).mean()), 1.0
    gain = float(ya @ yb) / den
    return float(np.abs(ya * gain - yb).mean()), gain


# A frame is mid-dissolve when, against the decoded frames DISSOLVE_REACH_S before and after it,
# (1) those two differ a lot (DISSOLVE_MIN_CHANGE, mean signature pixel difference), (2) the frame
# is a mix of them: the best blend a + alpha (b - a) has alpha in DISSOLVE_ALPHA (a frame next to a
# cut is close to one end) and leaves at most DISSOLVE_MAX_RESIDUAL of |b - a| (camera and object
# motion leave 0.5-1.0: a moved picture is not a blend of its two positions), and (3) the change is
# not a global gain (a fade or a lighting change). A run of such frames is a dissolve if one of them
# leaves at most DISSOLVE_CONFIRM of |b - a|. Measured in thorough and default mode: cross-fades of
# real clips (bikes into bigbuckbunny, 0.5 and 1 s) reach 0.24-0.30, synthetic ones between
# fast-panning pictures 0.31-0.35; the real test clips and the sample video's cuts, fades and pans
# never pass all three (the closest: the end of a fade-in under a pan, alpha 0.76, residual 0.39).
# Not seen: a dissolve starting within DISSOLVE_REACH_S of a cut (the far frame is another shot).
DISSOLVE_REACH_S = 0.5
DISSOLVE_MIN_CHANGE = 0.08
DISSOLVE_ALPHA = (0.25, 0.75)
DISSOLVE_MAX_RESIDUAL = 0.40
DISSOLVE_CONFIRM = 0.36


class DissolveDetector(ShotDetector):
    """Cross-fades: every frame is tested against the frames DISSOLVE_REACH_S before and after it
    (the thresholds, their units and why, are documented above them).

    Holds only the last second of decoded frames' signatures. Decisions lag by DISSOLVE_REACH_S
    plus the dissolve's length (and one more second, to merge runs a wobbling alpha split), so
    callers apply them after the fact.
    """

    def __init__(self) -> None:
        self.window: deque[tuple[int, float, np.ndarray]] = deque()  # (index, time_s, signature pixels)
        self.centre = 0  # position in `window` of the next frame to test
        self.run: list[tuple[int, float, float]] = []  # (index, alpha, residual) of mid-dissolve frames
        self.reach = (0, 0)  # first and last frame the current run was measured against
        self.found: list[tuple[int, int, int, float, bool]] = []  # first, centre, last, |alpha-.5|, confirmed

    def push(self, frame: FrameSample) -> list[Boundary]:
        index, time_s, sig = frame.index, frame.time_s, frame.sig
        window = self.window
        window.append((index, time_s, sig[:SIG_PIXELS]))
        out: list[Boundary] = []
        # test every frame once, as soon as a frame DISSOLVE_REACH_S after it has been decoded
        while window[self.centre][1] + DISSOLVE_REACH_S <= time_s + 1e-6:
            t = window[self.centre][1]
            while window[1][1] <= t - DISSOLVE_REACH_S + 1e-6:  # keep one frame at or before t - reach
                window.popleft()
                self.centre -= 1
            mix = None
            if window[0][1] <= t - DISSOLVE_REACH_S + 1e-6 and self.centre > 0:
                mix = self._mix(self.centre)
            if mix is None:
                self._end_run()
                out += self._release(window[0][0])
            else:
                if not self.run:
                    self.reach = (window[0][0], index)
                self.run.append((window[self.centre][0], *mix))
                self.reach = (self.reach[0], index)
            self.centre += 1
        return out

    def finish(self) -> list[Boundary]:
        """The dissolves not returned yet (call at the end of the video)."""
        self._end_run()
        return self._release(None)

    def _end_run(self) -> None:
        run, self.run = self.run, []
        if not run:
            return
        index, alpha, _ = min(run, key=lambda r: abs(r[1] - 0.5))
        item = (self.reach[0], index, self.reach[1], abs(alpha - 0.5), min(r[2] for r in run) <= DISSOLVE_CONFIRM)
        if self.found and item[0] <= self.found[-1][2]:  # overlaps the last run: one dissolve
            prev = self.found.pop()
            best = prev if prev[3] <= item[3] else item
            item = (prev[0], best[1], max(prev[2], item[2]), best[3], prev[4] or item[4])
        self.found.append(item)

    def _release(self, before: int | None) -> list[Boundary]:
        """Dissolves that end before frame `before` (no later run can overlap them), confirmed ones only."""
        out = []
        while self.found and (before is None or self.found[0][2] < before):
            first, centre, last, _, confirmed = self.found.pop(0)
            if confirmed:
                out.append(Boundary("dissolve", first, last, centre))
        return out

    def _mix(self, c: int) -> tuple[float, float] | None:
        """(alpha, residual share) if window[c] looks like (1 - alpha) first + alpha last of two
        different pictures, else None."""
        a, x, b = self.window[0][2], self.window[c][2], self.window[-1][2]
        d = b - a
        change = float(np.abs(d).mean())
        if change < DISSOLVE_MIN_CHANGE:
            return None
        alpha = float((x - a) @ d) / float(d @ d)
        if not DISSOLVE_ALPHA[0] <= alpha <= DISSOLVE_ALPHA[1]:
            return None
        residual = float(np.abs(x - a - alpha * d).mean()) / change
        if residual > DISSOLVE_MAX_RESIDUAL:
            return None
        # one end a brighter or darker copy of the other: a fade (to or from black) or lighting
        if min(_gain_difference(a, b)[0], _gain_difference(b, a)[0]) < 0.25 * change:
            return None
        return alpha, residual


FADE_SLOPE = 0.006  # brightness (0..1) per frame that, sustained over 3 steps, means a fade is under way


def is_black(brightness: float) -> bool:
    """A black frame (mean luma below BLACK_BRIGHTNESS, 0.075 of full scale, hecate's value): the
    bottom of a fade, a shot boundary; never a candidate."""
    return brightness < BLACK_BRIGHTNESS


class FadeTrend:
    """Is a fade under way? Brightness moving the same way by more than FADE_SLOPE per frame over the
    last three steps (measured on bikes-style footage, a pan changes brightness by < 0.003/frame;
    a 1 s fade of a mid-grey picture by ~0.02/frame). Steps more than 5 frames apart (sparse modes)
    are not a trend."""

    def __init__(self) -> None:
        self.hist: deque[tuple[int, float]] = deque(maxlen=4)

    def fading(self, index: int, brightness: float) -> bool:
        hist = self.hist
        hist.append((index, brightness))
        if len(hist) < 4 or hist[-1][0] - hist[0][0] > 4 * 5:
            return False
        pts = list(hist)
        slopes = [(b1 - b0) / max(1, i1 - i0) for (i0, b0), (i1, b1) in zip(pts[:-1], pts[1:])]
        return all(sl > FADE_SLOPE for sl in slopes) or all(sl < -FADE_SLOPE for sl in slopes)


def fade_ramps(
    brightness: Sequence[float], black_before: bool, black_after: bool, min_len: int = 3, min_drop: float = 0.08
) -> tuple[int, int]:
    """How many frames at the start fade in from black and at the end fade out to black.

    A ramp is a monotonic run of brightness towards black next to a black run, at least
    `min_len` decoded frames long and spanning at least `min_drop` of brightness.
    """
    b = np.asarray(brightness, dtype=np.float64)
    n = len(b)

    def ramp(seq: np.ndarray) -> int:
        k = 1
        while k < len(seq) and seq[k] >= seq[k - 1] - 0.004:  # rising away from black
            k += 1
        # stop at the first frame that reaches the plateau (within 2% of the ramp's top); a ramp
        # still rising steeply at the group's other end (a cut found inside a fade, as sparse
        # decoding can) has no plateau: all of it is fade
        top = seq[k - 1]
        if k == len(seq) >= 2 and seq[k - 1] - seq[k - 2] > 0.02:
            j = k
        else:
            j = int(np.argmax(seq[:k] >= top - 0.02)) if k else 0
        if j >= min_len and seq[min(j, len(seq) - 1)] - seq[0] >= min_drop and seq[0] < BLACK_BRIGHTNESS * 3:
            return j
        return 0

    head = ramp(b) if black_before and n else 0
    tail = ramp(b[::-1]) if black_after and n else 0
    if head + tail > n:
        tail = max(0, n - head)
    return head, tail
