"""Turning a policy's scores into the probabilities it logs, and drawing from them.

One home for both so that online ranking and progressive replay (simulations/ope/progressive.py)
sample exactly the same way: the floor first, then an inverse-CDF draw on one uniform number.

Exploration is priced per decision, not per candidate. A floor of `min_probability` for every
candidate made a title with 18 variants explore on at least 17% of its impressions, and one with 50
on 49%. With an `exploration_budget` B the floor guarantees at most B of the probability in total,
spread over the K candidates: each gets at least min(min_probability, max(B / K, MIN_SHARE)).
So a decision among few candidates keeps the per-candidate floor (K <= B / min_probability: 5 with
the defaults) and a decision among many explores B in total. Azure Personalizer's "exploration
percentage" (a share of all decisions) is the precedent.

The budget then settles with experience: after `exploration_decay` learned events (counted from
the start, or from the last drift the policy detected) the floor is multiplied by sqrt(decay / n),
the rate at which SquareCB's own exploration falls, and never goes below MIN_PROPENSITY. A fixed
budget kept costing a viewer group whose favourite is everyone's favourite the whole budget for
ever (the demo's `casual_mobile`: 5% of its clicks at 100,000 impressions); a detected drift
restarts the count, so the floor is back at the budget when tastes change (and a policy that does
not watch for drift keeps the budget's floor: Policy.settle_exploration). No logged probability
is ever below MIN_PROPENSITY: the largest importance weight the floor lets into a log is
1 / MIN_PROPENSITY = 2,000 (unless the caller sets `min_probability` below it). docs/defaults.md
has the measurements that chose the defaults.
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate
from math import fsum, sqrt
from typing import Sequence

import numpy as np

_INF = float("inf")
# The smallest share the budget spreads a floor down to before it settles: weights <= 500.
MIN_SHARE = 0.002
# The smallest probability the floor ever keeps, settled or not: importance weights <= 2,000.
MIN_PROPENSITY = 0.0005


def settled_scale(n_learned: int, decay: int | None) -> float:
    """What the floor is multiplied by after `n_learned` events (since the start or the last drift):
    1 up to `decay` events, then sqrt(decay / n). `decay=None`: 1 for ever."""
    if decay is None or n_learned <= decay:
        return 1.0
    return sqrt(decay / n_learned)


def floor_for(k: int, min_probability: float, budget: float | None, scale: float = 1.0) -> float:
    """The per-candidate floor of a decision among `k` candidates (see the module docstring):
    `min_probability`, lowered to the budget's share B / k but never below MIN_SHARE (nor above
    `min_probability`), then times `scale` (`settled_scale`) but never below MIN_PROPENSITY.
    `budget=None`: `min_probability` for every candidate."""
    if budget is None:
        return min_probability
    share = budget / k
    if share < MIN_SHARE:
        share = MIN_SHARE
    if share > min_probability:
        share = min_probability
    if scale < 1.0 and share > MIN_PROPENSITY:
        share *= scale
        if share < MIN_PROPENSITY:
            share = MIN_PROPENSITY
    return share


def apply_floor(
    pmf: "Sequence[float] | np.ndarray", floor: float, budget: float | None = None, scale: float = 1.0
) -> list[float]:
    """Mix with uniform just enough that every action has at least the floor's probability:
    `floor`, or with an exploration `budget` the per-decision floor `floor_for(K, floor, budget, scale)`.

    Why: a logged probability near zero makes inverse-propensity weights explode, and an action
    that is never shown can never be learned about. Capped at uniform when K * floor >= 1.
    Pure Python: for a handful of actions it is several times faster than numpy.
    """
    if type(pmf) is not list:
        pmf = pmf.tolist() if isinstance(pmf, np.ndarray) else list(pmf)  # Python floats: numpy scalars are slow
    k = len(pmf)
    if budget is not None:
        floor = floor_for(k, floor, budget, scale)
    low = min(pmf)
    if low < 0.0:
        pmf = [p if p > 0.0 else 0.0 for p in pmf]
        low = 0.0
    total = fsum(pmf)  # exactly rounded: the same floored pmf whatever the order of the actions
    if not total > 0.0 or total != total:
        return [1.0 / k] * k
    probs = [p / total for p in pmf]  # VW's pmf is float32: renormalize in double
    # min(probs): dividing by a positive finite number keeps the order, rounding included
    low = low / total if total < _INF else min(probs)
    uniform = 1.0 / k
    if floor > uniform:
        floor = uniform
    if low < floor:
        # smallest mixing weight w with (1 - w) * low + w / k >= floor
        w = (floor - low) / (uniform - low)
        keep, add = 1.0 - w, w / k
        probs = [keep * p + add for p in probs]
    return probs


def sample_index(probs: Sequence[float], u: float) -> int:
    """The index drawn from `probs` by inverse CDF with the uniform number `u` in [0, 1).

    `probs` need not sum to exactly 1 (u is scaled by their total); the last index guards rounding."""
    cdf = list(accumulate(probs))
    total = cdf[-1]
    x = u if total == 1.0 else u * total
    return min(bisect_right(cdf, x), len(cdf) - 1)
