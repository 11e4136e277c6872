"""Change detection on a reward stream: the Page-Hinkley test (Page 1954, Hinkley 1971).

Why Page-Hinkley and not a library: it is a dozen lines, O(1) per observation, and its two knobs
read in reward units: `delta` is the change too small to care about, `threshold` the evidence
(accumulated reward deviation) needed to raise an alarm. A drop of d > delta is detected after about
threshold / (d - delta) observations; without change the statistic drifts down by delta per step,
so false alarms are rare (tests/test_evaluate_drift.py checks both on known change points).
After an alarm the test restarts on the new regime.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PageHinkley:
    """Two-sided Page-Hinkley (CUSUM form) on standardised rewards; `update(x)` returns "drop",
    "rise" or None. Rewards are standardised by the running mean and sd of the current regime, so
    `delta` (change ignored) and `threshold` (evidence needed) are in standard deviations and the
    same defaults serve a 2% click rate and a 50% one."""

    delta: float = 0.08
    threshold: float = 60.0
    min_samples: int = 1000  # no alarm before the regime's mean and sd are known
    n: int = field(default=0, init=False)
    mean: float = field(default=0.0, init=False)
    _m2: float = field(default=0.0, init=False)
    _down: float = field(default=0.0, init=False)  # evidence of a drop
    _up: float = field(default=0.0, init=False)  # evidence of a rise
    last_alarm: float = field(default=0.0, init=False)  # the evidence that raised the last alarm

    def update(self, x: float) -> str | None:
        n = self.n
        if n >= self.min_samples:
            sd = (self._m2 / (n - 1)) ** 0.5
            z = (x - self.mean) / sd if sd > 1e-12 else 0.0
            self._down = max(0.0, self._down - z - self.delta)
            self._up = max(0.0, self._up + z - self.delta)
        self.n = n = n + 1
        d = x - self.mean
        self.mean += d / n
        self._m2 += d * (x - self.mean)
        if self._down > self.threshold:
            self.last_alarm = self._down
            self.reset()
            return "drop"
        if self._up > self.threshold:
            self.last_alarm = self._up
            self.reset()
            return "rise"
        return None

    def reset(self) -> None:
        self.n, self.mean, self._m2, self._down, self._up = 0, 0.0, 0.0, 0.0, 0.0


def change_points(
    rewards, *, delta: float = 0.08, threshold: float = 60.0, min_samples: int = 1000
) -> list[tuple[int, str]]:
    """(index, "drop" | "rise") of every alarm over a whole reward sequence."""
    detector = PageHinkley(delta, threshold, min_samples)
    out = []
    for i, x in enumerate(rewards):
        kind = detector.update(float(x))
        if kind:
            out.append((i, kind))
    return out
