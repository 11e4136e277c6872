"""Estimators fed batch by batch: running sums, delta-method intervals and learning-curve checkpoints.

Why: replay used to keep every event's reward, weight and match for the whole log, so its memory grew
with the log. Every estimator here is a ratio of sums (estimators.terms), and its delta-method interval
needs only the count, the two sums and the centred second moments of (num, den), merged across batches
with Chan et al.'s parallel update (no cancellation). Learning curves keep cumulative sums at
checkpoints spaced `step` events apart; when there are more than 2 * points of them, every other one
goes and `step` doubles, so at most 2 * points + 1 checkpoints live at any time, whatever the log size.

The one exception is the bootstrap: a percentile bootstrap resamples events, so with bootstrap > 0 the
per-event (num, den) terms are kept (and only then); the interval is then exactly estimators.ratio_interval's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np

from simulations.ope.estimators import (
    DETERMINISTIC_P,
    Diagnostics,
    Estimate,
    OPEArrays,
    Outcomes,
    finish_estimate,
    ratio_interval,
    support_warnings_for,
    terms,
)


@dataclass
class RunningSum:
    """A float sum with Neumaier compensation: batch sums added one by one lose no precision."""

    total: float = 0.0
    _c: float = 0.0

    def add(self, x: float) -> None:
        t = self.total + x
        self._c += (self.total - t) + x if abs(self.total) >= abs(x) else (x - t) + self.total
        self.total = t

    @property
    def value(self) -> float:
        return self.total + self._c


@dataclass
class RatioStream:
    """sum(num) / sum(den) over batches, its delta-method standard error and its learning curve."""

    points: int = 100
    keep_terms: bool = False
    n: int = 0
    num: RunningSum = field(default_factory=RunningSum)
    den: RunningSum = field(default_factory=RunningSum)
    mean_n: float = 0.0
    mean_d: float = 0.0
    m2_n: float = 0.0
    m2_d: float = 0.0
    co: float = 0.0
    cum_n: float = 0.0  # sequential cumulative sums: the same floats np.cumsum gives over the whole log
    cum_d: float = 0.0
    step: int = 1
    checkpoints: list[tuple[int, float, float]] = field(default_factory=list)
    kept: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)

    def add(self, num: np.ndarray, den: np.ndarray) -> None:
        nb = len(num)
        if nb == 0:
            return
        self.num.add(float(np.sum(num)))
        self.den.add(float(np.sum(den)))
        mn, md = float(np.mean(num)), float(np.mean(den))
        cn, cd = num - mn, den - md
        m2n, m2d, co = float(cn @ cn), float(cd @ cd), float(cn @ cd)
        n1, n = self.n, self.n + nb
        dn, dd = mn - self.mean_n, md - self.mean_d
        self.mean_n += dn * nb / n
        self.mean_d += dd * nb / n
        f = n1 * nb / n
        self.m2_n += m2n + dn * dn * f
        self.m2_d += m2d + dd * dd * f
        self.co += co + dn * dd * f
        self._checkpoint(num, den, n1)
        self.n = n
        if self.keep_terms:
            self.kept.append((np.array(num, dtype=np.float64), np.array(den, dtype=np.float64)))

    def _checkpoint(self, num: np.ndarray, den: np.ndarray, start: int) -> None:
        cn = np.cumsum(np.concatenate(([self.cum_n], num)))
        cd = np.cumsum(np.concatenate(([self.cum_d], den)))
        self.cum_n, self.cum_d = float(cn[-1]), float(cd[-1])
        end = start + len(num)
        while True:  # coarsen before adding, so no more than 2 * points + 1 ever live
            first = (start // self.step + 1) * self.step
            count = len(self.checkpoints) + max(0, (end - first) // self.step + 1)
            if count <= 2 * self.points:
                break
            self._coarsen()
        ks = np.arange((start // self.step + 1) * self.step, end + 1, self.step)
        self.checkpoints.extend(zip(ks.tolist(), cn[ks - start].tolist(), cd[ks - start].tolist()))

    def _coarsen(self) -> None:
        self.step *= 2
        self.checkpoints = [c for c in self.checkpoints if c[0] % self.step == 0]

    def retained(self) -> int:
        """Numbers this stream holds (what bounds its memory): fixed scalars, checkpoints, kept terms."""
        return 14 + 3 * len(self.checkpoints) + sum(len(a) + len(b) for a, b in self.kept)

    def interval(self, confidence: float, bootstrap: int, seed: int) -> tuple[float, float, float, float, str]:
        """(value, low, high, stderr, method), as estimators.ratio_interval gives on the whole arrays."""
        if bootstrap > 0:
            num = np.concatenate([a for a, _ in self.kept]) if self.kept else np.zeros(0)
            den = np.concatenate([b for _, b in self.kept]) if self.kept else np.zeros(0)
            return ratio_interval(num, den, confidence=confidence, bootstrap=bootstrap, seed=seed)
        n, total_den = self.n, self.den.value
        if n == 0 or total_den <= 0:
            return math.nan, math.nan, math.nan, math.nan, "none"
        value = self.num.value / total_den
        if n > 1:  # sum of squared centred residuals num - value * den, from the merged moments
            ss = max(0.0, self.m2_n - 2 * value * self.co + value * value * self.m2_d)
            se = math.sqrt(ss / (n - 1)) / (math.sqrt(n) * (total_den / n))
        else:
            se = math.nan
        z = NormalDist().inv_cdf(0.5 + confidence / 2)
        return value, value - z * se, value + z * se, se, "asymptotic"

    def curve(self) -> tuple[list[int], list[float | None]]:
        """The running estimate at <= points + 1 checkpoints ending at the last event."""
        points = list(self.checkpoints)
        step = self.step
        while len(points) > self.points:
            step *= 2
            points = [c for c in points if c[0] % step == 0]
        if self.n and (not points or points[-1][0] != self.n):
            points.append((self.n, self.cum_n, self.cum_d))
        ks = [k for k, _, _ in points]
        return ks, [n / d if d > 0 and math.isfinite(n / d) else None for _, n, d in points]


@dataclass
class PolicyStream:
    """Every asked estimator for ONE target policy, plus its diagnostics, fed per batch."""

    estimators: list[str]
    points: int = 100
    bootstrap: int = 0
    streams: dict[str, RatioStream] = field(init=False)
    n: int = 0
    used: int = 0  # matched events (replay)
    sw: RunningSum = field(default_factory=RunningSum)
    sw2: RunningSum = field(default_factory=RunningSum)
    max_w: float = 0.0
    zero: RunningSum | None = None
    deterministic: int = 0
    not_uniform: int = 0  # events whose logging probability is not 1/K (replay's uniform-logger check)
    has_candidates: bool = False
    outcomes: Outcomes = field(default_factory=Outcomes)  # over events with weight > 0
    matched_outcomes: Outcomes = field(default_factory=Outcomes)  # over matched events (replay)

    def __post_init__(self) -> None:
        self.streams = {e: RatioStream(self.points, keep_terms=self.bootstrap > 0) for e in self.estimators}

    def add(self, data: OPEArrays) -> None:
        """One batch of this policy's per-event inputs (they can be dropped afterwards)."""
        if len(data.reward) == 0:
            return
        for name, stream in self.streams.items():
            stream.add(*terms(name, data))
        w = data.weights
        self.n += len(w)
        self.outcomes.add(data.reward, w > 0)
        if data.matched is not None:
            self.used += int(np.sum(data.matched))
            self.matched_outcomes.add(data.reward, data.matched.astype(bool))
        self.sw.add(float(np.sum(w)))
        self.sw2.add(float(np.sum(w * w)))
        self.max_w = max(self.max_w, float(np.max(w)))
        if data.zero_support is not None:
            self.zero = self.zero or RunningSum()
            self.zero.add(float(np.sum(data.zero_support)))
        self.deterministic += int(np.sum(data.logged_p >= DETERMINISTIC_P))
        if data.n_candidates is not None:
            self.has_candidates = True
            self.not_uniform += int(np.sum(np.abs(data.logged_p * data.n_candidates - 1.0) > 0.01))

    def retained(self) -> int:
        return 26 + sum(s.retained() for s in self.streams.values())  # 14: the two Outcomes

    def diagnostics(self, name: str) -> Diagnostics:
        n = self.n
        if name == "replay":
            used, ess = self.used, float(self.used)
        else:
            sw, sw2 = self.sw.value, self.sw2.value
            used, ess = n, (sw * sw / sw2 if sw2 > 0 else 0.0)
        return Diagnostics(
            events=n,
            events_used=used,
            ess=ess,
            max_weight=self.max_w if n else 0.0,
            mean_weight=self.sw.value / n if n else 0.0,
            zero_support_share=self.zero.value / n if self.zero is not None and n else None,
            deterministic_share=self.deterministic / n if n else 0.0,
        )

    def estimate(self, name: str, confidence: float, seed: int) -> Estimate:
        """What estimators.estimate gives on the whole log's arrays."""
        interval = self.streams[name].interval(confidence, self.bootstrap, seed)
        diag = self.diagnostics(name)
        off = self.not_uniform / self.n if self.has_candidates and self.n else None
        outcomes = self.matched_outcomes if name == "replay" else self.outcomes
        return finish_estimate(name, interval, confidence, diag, support_warnings_for(name, diag, off), outcomes)

    def result(self, confidence: float, seed: int) -> tuple[dict, dict]:
        """(estimates as dicts, curve) in replay.json's shape."""
        ests = {e: self.estimate(e, confidence, seed).to_dict() for e in self.estimators}
        curve: dict[str, list] = {}
        for e, stream in self.streams.items():
            ks, vals = stream.curve()
            curve["events"] = ks
            curve[e] = vals
        return ests, curve
