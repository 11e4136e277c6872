"""Position-aware off-policy estimators for slates (rows of ranked slots), as Open Bandit Pipeline
defines them.

A slate log has one row per (impression, position): the item shown at position k, its reward, and the
logger's *item-position* propensity pi_b(a at k | x) (the Open Bandit Dataset's `propensity_score`).
The target's probability of the same item at the same position, pi_e(a at k | x), gives the weight.

- `pips`: obp's InverseProbabilityWeighting with `position` (its standard estimator on the Open Bandit
  Dataset): the mean over rows of r * pi_e(a at k) / pi_b(a at k), a value per slot.
- `psnips`: obp's SelfNormalizedInverseProbabilityWeighting with `position`: sum(r w) / sum(w).
- `iips`: obp's SlateIndependentIPS (Li et al. 2018, item-position click model): per slate the sum over
  its positions of r * pi_e(a at k) / pi_b(a at k), averaged over slates: a value per slate (with K
  positions filled, K times the per-slot value).

Intervals are the delta method of estimators.ratio_interval over *slates*, not rows: the positions of
one impression share a user and are not independent draws. Without slate ids each row is its own
slate (the Open Bandit Dataset's sample is a random subset of rows, so it has none).

A single-slot policy (a pmf over the candidates) fills K slots by sampling without replacement in
proportion to its pmf (Plackett-Luce; how a multi-slot Personalizer fills slots in rank order);
`slot_probability` is the exact probability that it puts item a at position k, for k <= 3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulations.ope.errors import OPEError
from simulations.ope.estimators import ratio_interval

POSITION_ESTIMATORS: tuple[str, ...] = ("pips", "psnips", "iips")
MAX_EXACT_POSITION = 3


def _rest(p: np.ndarray) -> np.ndarray:
    """sum_{j != b} p_j for every b, from prefix and suffix sums (no 1 - p_b cancellation when p_b ~ 1)."""
    prefix = np.concatenate(([0.0], np.cumsum(p)[:-1]))
    suffix = np.concatenate((np.cumsum(p[::-1])[::-1][1:], [0.0]))
    return prefix + suffix


def slot_probabilities(pmf: np.ndarray, position: int) -> np.ndarray:
    """P(item a at `position` (1-based)) for every a, when the slots are filled by sampling without
    replacement in proportion to `pmf`; items of zero probability come after every other (uniformly)."""
    p = np.asarray(pmf, dtype=np.float64)
    n = len(p)
    if not 1 <= position <= min(n, MAX_EXACT_POSITION):
        if position > MAX_EXACT_POSITION:
            raise OPEError(f"position {position}: slot probabilities are exact up to position {MAX_EXACT_POSITION}")
        raise OPEError(f"position {position} outside 1..{n} (the candidate set has {n} items)")
    eps = 1e-12  # zero-probability items: ranked after the others, at random
    p = (p + eps) / (p.sum() + n * eps)
    if position == 1:
        return p
    rest = _rest(p)  # mass left after b is taken
    if position == 2:
        share = p / rest  # P(b first) * 1 / (mass left)
        return p * (share.sum() - share)
    # position 3: sum over ordered pairs (b, c), b != c, both != a, of p_b p_c / (rest_b (rest_b - p_c))
    left = np.maximum(rest[:, None] - p[None, :], 1e-300)
    m = (p / rest)[:, None] * p[None, :] / left
    np.fill_diagonal(m, 0.0)
    total, rows, cols = m.sum(), m.sum(axis=1), m.sum(axis=0)
    return p * (total - rows - cols + 0.0)


def slot_probability(pmf: np.ndarray, position: int, item: int) -> float:
    """pi(item at position) for a policy that fills slots from `pmf` (see slot_probabilities)."""
    return float(slot_probabilities(pmf, position)[item])


@dataclass
class PositionEstimate:
    estimator: str
    value: float
    low: float
    high: float
    stderr: float
    slates: int
    rows: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _per_slate(slate_id: np.ndarray | None, *columns: np.ndarray) -> list[np.ndarray]:
    if slate_id is None:
        return list(columns)
    _, inverse = np.unique(np.asarray(slate_id), return_inverse=True)
    return [np.bincount(inverse, weights=c) for c in columns]


def position_estimate(
    name: str,
    reward: np.ndarray,
    logged_p: np.ndarray,
    target_p: np.ndarray,
    slate_id: np.ndarray | None = None,
    *,
    confidence: float = 0.95,
) -> PositionEstimate:
    """`pips`, `psnips` or `iips` (see the module) with a delta-method interval over slates.

    reward, logged_p (pi_b(a at k)), target_p (pi_e(a at k)): one value per row; slate_id: the
    impression each row belongs to (None: each row its own)."""
    r = np.asarray(reward, dtype=np.float64)
    mu = np.asarray(logged_p, dtype=np.float64)
    pi = np.asarray(target_p, dtype=np.float64)
    if not (len(r) == len(mu) == len(pi)) or (slate_id is not None and len(slate_id) != len(r)):
        raise OPEError("position estimates: reward, logged_p, target_p and slate_id need one value per row")
    if len(r) and not np.all((mu > 0) & (mu <= 1)):
        raise OPEError("position estimates: logged probabilities must lie in (0, 1]")
    w = pi / mu
    if name == "pips":
        num, den = _per_slate(slate_id, r * w, np.ones_like(r))
    elif name == "psnips":
        num, den = _per_slate(slate_id, r * w, w)
    elif name == "iips":
        (num,) = _per_slate(slate_id, r * w)
        den = np.ones_like(num)
    else:
        raise OPEError(f"unknown position estimator {name!r}; valid: {', '.join(POSITION_ESTIMATORS)}")
    value, low, high, se, _ = ratio_interval(num, den, confidence=confidence)
    return PositionEstimate(name, value, low, high, se, len(num), len(r))
