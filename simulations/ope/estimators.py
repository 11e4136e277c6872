"""Off-policy estimators on per-event arrays: replay, IPS, SNIPS, DM and DR, with intervals and diagnostics.

Every estimator here is a ratio of sums, value = sum(num_i) / sum(den_i) (den_i = 1 for the plain means),
so ONE interval routine serves all of them: the delta method (asymptotic normal) or a percentile
bootstrap over events. Diagnostics and support warnings come with every estimate because an OPE number
without its effective sample size is not an honest number.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from simulations.ope.choices import ESTIMATORS
from simulations.ope.errors import OPEError

# Above this logged probability an event is treated as a deterministic (non-exploring) decision.
DETERMINISTIC_P = 0.999
# Warn when the effective sample size falls below this share of the events (or below 30).
TINY_OVERLAP = 0.05


@dataclass
class OPEArrays:
    """Per-event inputs of the estimators for ONE target policy (length n each).

    reward: logged reward r_i; logged_p: logging probability of the logged action mu(a_i|x_i);
    target_p: the target policy's probability of the logged action pi(a_i|x_i);
    matched: replay only, whether the target's sampled action equals the logged action;
    dm: sum_a pi(a|x_i) q(x_i, a) from a reward model fitted on other events; q_logged: q(x_i, a_i);
    zero_support: target probability mass on actions the logger could not take (p = 0);
    n_candidates: size of each event's candidate set (to check that a replay log is uniform).
    """

    reward: np.ndarray
    logged_p: np.ndarray
    target_p: np.ndarray
    matched: np.ndarray | None = None
    dm: np.ndarray | None = None
    q_logged: np.ndarray | None = None
    zero_support: np.ndarray | None = None
    n_candidates: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.reward = np.asarray(self.reward, dtype=np.float64)
        self.logged_p = np.asarray(self.logged_p, dtype=np.float64)
        self.target_p = np.asarray(self.target_p, dtype=np.float64)
        for name in ("dm", "q_logged", "zero_support"):  # lists are welcome too
            if getattr(self, name) is not None:
                setattr(self, name, np.asarray(getattr(self, name), dtype=np.float64))
        for name in ("matched", "n_candidates"):
            if getattr(self, name) is not None:
                setattr(self, name, np.asarray(getattr(self, name)))
        n = len(self.reward)
        for name in ("logged_p", "target_p", "matched", "dm", "q_logged", "zero_support", "n_candidates"):
            arr = getattr(self, name)
            if arr is not None and len(arr) != n:
                raise OPEError(f"OPE arrays: {name} has {len(arr)} values, reward has {n}")
        if n and not np.all((self.logged_p > 0) & (self.logged_p <= 1 + 1e-9)):
            raise OPEError("OPE arrays: logged probabilities must lie in (0, 1]")

    @property
    def weights(self) -> np.ndarray:
        """Importance weights pi(a_i|x_i) / mu(a_i|x_i)."""
        return self.target_p / self.logged_p


@dataclass
class Diagnostics:
    """How much the log supports an estimate (printed with every estimate)."""

    events: int
    events_used: int
    ess: float
    max_weight: float
    mean_weight: float
    zero_support_share: float | None
    deterministic_share: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Estimate:
    """One estimator's value for one target policy, with its interval, diagnostics and warnings."""

    estimator: str
    value: float
    low: float
    high: float
    stderr: float
    interval: str
    confidence: float
    diagnostics: Diagnostics
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["diagnostics"] = self.diagnostics.to_dict()
        return out


def terms(name: str, data: OPEArrays) -> tuple[np.ndarray, np.ndarray]:
    """Numerator and denominator terms whose sums' ratio is the estimator `name`."""
    r, w = data.reward, data.weights
    ones = np.ones_like(r)
    if name == "replay":
        if data.matched is None:
            raise OPEError("the replay estimator needs the target's sampled actions (matched)")
        m = data.matched.astype(np.float64)
        return r * m, m
    if name == "ips":
        return w * r, ones
    if name == "snips":
        return w * r, w
    if name in ("dm", "dr"):
        if data.dm is None or (name == "dr" and data.q_logged is None):
            raise OPEError(f"the {name} estimator needs reward-model predictions")
        if name == "dm":
            return data.dm.astype(np.float64), ones
        return data.dm + w * (r - data.q_logged), ones
    raise OPEError(f"unknown estimator {name!r}; valid: {', '.join(ESTIMATORS)}")


def ratio_interval(
    num: np.ndarray, den: np.ndarray, *, confidence: float = 0.95, bootstrap: int = 0, seed: int = 0
) -> tuple[float, float, float, float, str]:
    """(value, low, high, stderr, method) for sum(num)/sum(den).

    Asymptotic: the delta method, se = sd(num - value*den) / (sqrt(n) * mean(den)).
    Bootstrap (bootstrap > 0): percentile interval over events resampled with replacement.
    """
    n = len(num)
    total_den = float(np.sum(den))
    if n == 0 or total_den <= 0:
        return float("nan"), float("nan"), float("nan"), float("nan"), "none"
    value = float(np.sum(num)) / total_den
    resid = num - value * den
    if n > 1:
        se = float(np.std(resid, ddof=1)) / (np.sqrt(n) * (total_den / n))
    else:
        se = float("nan")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    if bootstrap <= 0:
        return value, value - z * se, value + z * se, se, "asymptotic"
    rng = np.random.default_rng(seed)
    stats = np.empty(bootstrap)
    for b in range(bootstrap):
        idx = rng.integers(0, n, size=n)
        d = den[idx].sum()
        stats[b] = num[idx].sum() / d if d > 0 else np.nan
    stats = stats[np.isfinite(stats)]
    alpha = (1 - confidence) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha]) if len(stats) else (np.nan, np.nan)
    return value, float(low), float(high), float(np.std(stats, ddof=1)) if len(stats) > 1 else se, "bootstrap"


# Fewer successes (events used with a reward above the range's minimum) or failures (below its maximum)
# than this, and the normal approximation behind the delta method is not to be trusted: the classic
# n*p >= 10 rule for a proportion. With none at all its interval has zero width.
FEW_OUTCOMES = 10


def reward_bounds(r_min: float, r_max: float) -> tuple[float, float]:
    """The range a policy's value must lie in: [0, 1] when every logged reward does (clicks, rates),
    else the logged rewards' [min, max] (a value outside what any event paid cannot be estimated)."""
    if r_min >= 0.0 and r_max <= 1.0:
        return 0.0, 1.0
    return r_min, r_max


@dataclass
class Outcomes:
    """The log's reward range and, over the events an estimate uses (weight > 0; replay: matched), how
    many sit at its ends: what the interval's edge rule needs, fed whole or batch by batch."""

    r_min: float = math.inf
    r_max: float = -math.inf
    used: int = 0
    u_min: float = math.inf
    u_max: float = -math.inf
    at_min: int = 0
    at_max: int = 0

    def add(self, reward: np.ndarray, used: np.ndarray) -> None:
        if len(reward) == 0:
            return
        self.r_min = min(self.r_min, float(np.min(reward)))
        self.r_max = max(self.r_max, float(np.max(reward)))
        ru = reward[used]
        if len(ru) == 0:
            return
        lo, hi = float(np.min(ru)), float(np.max(ru))
        if lo < self.u_min:
            self.u_min, self.at_min = lo, 0
        if hi > self.u_max:
            self.u_max, self.at_max = hi, 0
        self.at_min += int(np.sum(ru == self.u_min))
        self.at_max += int(np.sum(ru == self.u_max))
        self.used += len(ru)

    def bounds(self) -> tuple[float, float]:
        return reward_bounds(self.r_min, self.r_max) if self.r_min <= self.r_max else (math.nan, math.nan)

    def successes(self) -> int:
        """Used events with a reward above the range's minimum (clicks, for click logs)."""
        return self.used - (self.at_min if self.u_min == self.bounds()[0] else 0)

    def failures(self) -> int:
        """Used events with a reward below the range's maximum."""
        return self.used - (self.at_max if self.u_max == self.bounds()[1] else 0)


def outcomes_of(name: str, data: OPEArrays) -> Outcomes:
    out = Outcomes()
    used = data.matched.astype(bool) if name == "replay" and data.matched is not None else data.weights > 0
    out.add(data.reward, used)
    return out


def wilson(p: float, n: float, z: float) -> tuple[float, float]:
    """Wilson's score interval for a proportion p observed on n trials (n may be an effective size)."""
    if n <= 0:
        return 0.0, 1.0
    p = min(1.0, max(0.0, p))
    d = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / d
    half = z / d * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def bounded_interval(
    value: float, low: float, high: float, outcomes: Outcomes, n_eff: float, confidence: float
) -> tuple[float, float, bool]:
    """(low, high, widened): an interval honest at the edges.

    With fewer than FEW_OUTCOMES successes or failures among the used events it is widened to contain
    the Wilson score interval of the value (as a share of the reward range) on the effective sample
    size n_eff (Kish's (sum w)^2 / sum w^2; replay: matched events), which never has zero width and
    behaves at 0 and 1; then it is clipped to the reward range, where the true value lies."""
    r_lo, r_hi = outcomes.bounds()
    if not (math.isfinite(value) and math.isfinite(r_lo)):
        return low, high, False
    widened = False
    span = r_hi - r_lo
    if span > 0 and min(outcomes.successes(), outcomes.failures()) < FEW_OUTCOMES:
        z = NormalDist().inv_cdf(0.5 + confidence / 2)
        w_lo, w_hi = wilson((value - r_lo) / span, n_eff, z)
        w_lo, w_hi = r_lo + w_lo * span, r_lo + w_hi * span
        if not (low <= w_lo and high >= w_hi):  # NaN bounds (one event) are replaced too
            low = w_lo if not low <= w_lo else low
            high = w_hi if not high >= w_hi else high
            widened = True
    low, high = min(low, value), max(high, value)  # an interval always holds its estimate
    # clipped to the range, but never past the value itself (DR or IPS can land outside the range;
    # estimate() warns then): the interval always contains its estimate
    return max(low, min(r_lo, value)), min(high, max(r_hi, value)), widened


def outside_range_warning(value: float, outcomes: Outcomes) -> str | None:
    lo, hi = outcomes.bounds()
    if math.isfinite(value) and math.isfinite(lo) and not lo <= value <= hi:
        return (
            f"the estimate {value:.4g} lies outside the reward range [{lo:g}, {hi:g}], where the true value "
            "lies: too few events, or weights too large, for this estimator"
        )
    return None


def diagnostics(name: str, data: OPEArrays) -> Diagnostics:
    """Events used, effective sample size, weight extremes and the share without logging support."""
    n = len(data.reward)
    w = data.weights
    if name == "replay" and data.matched is not None:
        used = int(np.sum(data.matched))
        ess = float(used)
    else:
        used = n
        sw, sw2 = float(np.sum(w)), float(np.sum(w * w))
        ess = sw * sw / sw2 if sw2 > 0 else 0.0
    zero = float(np.mean(data.zero_support)) if data.zero_support is not None and n else None
    return Diagnostics(
        events=n,
        events_used=used,
        ess=ess,
        max_weight=float(np.max(w)) if n else 0.0,
        mean_weight=float(np.mean(w)) if n else 0.0,
        zero_support_share=zero,
        deterministic_share=float(np.mean(data.logged_p >= DETERMINISTIC_P)) if n else 0.0,
    )


def support_warnings(name: str, data: OPEArrays, diag: Diagnostics) -> list[str]:
    """Plain-language reasons why the log may not support this estimate."""
    off = None
    if data.n_candidates is not None and diag.events:
        off = float(np.mean(np.abs(data.logged_p * data.n_candidates - 1.0) > 0.01))
    return support_warnings_for(name, diag, off)


def support_warnings_for(name: str, diag: Diagnostics, not_uniform_share: float | None) -> list[str]:
    """support_warnings from the diagnostics and the share of events not logged uniformly (None: unknown),
    so the streaming estimators (simulations.ope.streaming) warn exactly alike."""
    out: list[str] = []
    n = diag.events
    if n == 0:
        return ["no events: nothing to estimate"]
    if diag.deterministic_share >= 0.5:
        out.append(
            f"logging policy looks deterministic (p >= {DETERMINISTIC_P} on {diag.deterministic_share:.0%} "
            "of events): actions it never took cannot be evaluated"
        )
    if diag.zero_support_share is not None and diag.zero_support_share > 0.01:
        out.append(
            f"{diag.zero_support_share:.1%} of the target's probability is on actions the logger never "
            "chose with p > 0: IPS/SNIPS/DR/replay are biased there and DM extrapolates"
        )
    if name == "replay":
        if diag.events_used < 100:
            out.append(f"only {diag.events_used} events matched the target's choices: the replay interval is wide")
        if not_uniform_share is not None and not_uniform_share > 0.01:
            out.append(
                f"replay assumes a uniformly random logger but {not_uniform_share:.0%} of events were not "
                "logged uniformly: use ips, snips or dr"
            )
    elif name != "dm":
        if diag.ess < max(30.0, TINY_OVERLAP * n):
            out.append(
                f"tiny overlap: effective sample size {diag.ess:.0f} of {n} events ({diag.ess / n:.1%}); "
                "the target rarely takes the actions the logger took"
            )
        if diag.max_weight > max(100.0, 0.05 * n):
            out.append(f"max importance weight {diag.max_weight:.0f}: a single event dominates the estimate")
    return out


def few_outcomes_warning(outcomes: Outcomes) -> str:
    lo, hi = outcomes.bounds()
    few = (
        f"{outcomes.successes()} of the events used ({outcomes.used:,}) had a reward above {lo:g}"
        if outcomes.successes() <= outcomes.failures()
        else f"{outcomes.failures()} of the events used ({outcomes.used:,}) had a reward below {hi:g}"
    )
    return (
        f"only {few}: the interval is widened to a Wilson score interval on the effective sample size "
        "(a normal interval is not to be trusted there)"
    )


def estimate(name: str, data: OPEArrays, *, confidence: float = 0.95, bootstrap: int = 0, seed: int = 0) -> Estimate:
    """The estimator `name` (replay, ips, snips, dm, dr) on `data`, with interval and diagnostics."""
    num, den = terms(name, data)
    value, low, high, se, method = ratio_interval(num, den, confidence=confidence, bootstrap=bootstrap, seed=seed)
    diag = diagnostics(name, data)
    return finish_estimate(
        name,
        (value, low, high, se, method),
        confidence,
        diag,
        support_warnings(name, data, diag),
        outcomes_of(name, data),
    )


def finish_estimate(
    name: str,
    interval: tuple[float, float, float, float, str],
    confidence: float,
    diag: Diagnostics,
    warnings: list[str],
    outcomes: Any,
) -> Estimate:
    """The Estimate from an interval (value, low, high, se, method): bounded to the reward range
    where outcomes are few, with the warnings that go with it. One rule for the whole-array
    estimators and the streaming ones (simulations.ope.streaming), so they cannot drift apart."""
    value, low, high, se, method = interval
    low, high, widened = bounded_interval(value, low, high, outcomes, diag.ess, confidence)
    if widened:
        warnings.append(few_outcomes_warning(outcomes))
    outside = outside_range_warning(value, outcomes)
    if outside:
        warnings.append(outside)
    if name == "dm":
        warnings.append("DM's interval ignores the reward model's own error (bias); prefer DR or SNIPS")
    return Estimate(name, value, low, high, se, method, confidence, diag, warnings)


def cumulative_curve(name: str, data: OPEArrays, points: int = 100) -> tuple[list[int], list[float | None]]:
    """The estimate over the first k events, at ~`points` checkpoints: the learning curve."""
    num, den = terms(name, data)
    n = len(num)
    if n == 0:
        return [], []
    # start after n/points events: the first handful of events says nothing and swamps the plot
    ks = np.unique(np.linspace(max(1, n // points), n, num=min(points, n)).astype(int))
    cn, cd = np.cumsum(num)[ks - 1], np.cumsum(den)[ks - 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        vals = np.where(cd > 0, cn / np.where(cd > 0, cd, 1), np.nan)
    return ks.tolist(), [None if not np.isfinite(v) else float(v) for v in vals]


def paired_difference(a: OPEArrays, b: OPEArrays, name: str = "dr", confidence: float = 0.95) -> dict[str, float]:
    """value(a) - value(b) with an interval from the per-event differences (both on the same events,
    so the shared noise cancels: far narrower than comparing two separate intervals)."""
    na, da = terms(name, a)
    nb, db = terms(name, b)
    if name == "snips":  # ratio estimators: linearise each around its value, then difference
        va, vb = na.sum() / da.sum(), nb.sum() / db.sum()
        diff = (na - va * da) / da.mean() - (nb - vb * db) / db.mean()
        v, lo, hi, _, _ = ratio_interval(diff, np.ones_like(diff), confidence=confidence)
        return {"value": float(va - vb), "low": float(va - vb + lo - v), "high": float(va - vb + hi - v)}
    v, lo, hi, _, _ = ratio_interval(na - nb, np.ones_like(na), confidence=confidence)
    return {"value": v, "low": lo, "high": hi}
