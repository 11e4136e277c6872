"""Shot boundaries: hard cuts (streaming, exact to the decoded frame), flashes, fades to/from black.

Cuts are found while decoding, with a look-ahead of two decoded frames, so that the frames kept
in memory can be grouped per shot during the single pass. A jump in the frame signature is a cut
when it is large in absolute terms and against the recent motion in the shot, and the frames after
it do not return to the frame before it (if they do, the jump was a flash or a glitch).
"""
from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from imaging.frame_metrics import BLACK_BRIGHTNESS, SIG_SIZE, difference

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


class CutDetector:
    """Streaming detector: `push` one decoded frame, get back decisions about earlier frames.

    Returns events ("cut", index) meaning the shot starts at `index`, and ("flash", index).
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
            return max(self.threshold, self.ratio * float(np.median(self.recent)) + 0.01,
                       1.6 * self.recent[-1])
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
            for _, nxt in (self.buf if self.adaptive else ()):  # keyframes are seconds apart: no flashes
                if difference(self.ref, nxt) * self.scale < 0.5 * limit:
                    return [("flash", index)]  # keep self.ref: the flash never becomes a reference
            if not self.adaptive or not self.buf or d > 1.6 * difference(sig, self.buf[0][1]) * self.scale:
                self.ref = sig
                self.recent.clear()
                return [("cut", index)]
        self.recent.append(d)
        self.ref = sig
        return []

    def push(self, index: int, sig: np.ndarray) -> list[tuple[str, int]]:
        self.buf.append((index, sig))
        if len(self.buf) > LOOKAHEAD:
            return self._decide()
        return []

    def finish(self) -> list[tuple[str, int]]:
        events: list[tuple[str, int]] = []
        while self.buf:
            events += self._decide()
        return events


def _gain_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(luma difference left after the best global gain a -> b, that gain): small within a fade."""
    n = SIG_SIZE[0] * SIG_SIZE[1]
    ya, yb = a[:n], b[:n]
    den = float(ya @ ya)
    if den <= 1e-9:
        return float(np.abs(yb).mean()), 1.0
    gain = float(ya @ yb) / den
    return float(np.abs(ya * gain - yb).mean()), gain


def fade_ramps(brightness: Sequence[float], black_before: bool, black_after: bool,
               min_len: int = 3, min_drop: float = 0.08) -> tuple[int, int]:
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
        # stop at the first frame that reaches the plateau (within 2% of the ramp's top)
        top = seq[k - 1]
        j = int(np.argmax(seq[:k] >= top - 0.02)) if k else 0
        if j >= min_len and seq[j] - seq[0] >= min_drop and seq[0] < BLACK_BRIGHTNESS * 3:
            return j
        return 0

    head = ramp(b) if black_before and n else 0
    tail = ramp(b[::-1]) if black_after and n else 0
    if head + tail > n:
        tail = max(0, n - head)
    return head, tail
