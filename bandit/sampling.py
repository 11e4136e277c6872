"""Turning a policy's scores into the probabilities it logs, and drawing from them.

One home for both so that online ranking and progressive replay (simulations/ope/progressive.py)
sample exactly the same way: the floor first, then an inverse-CDF draw on one uniform number.
"""
from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate
from typing import Sequence

import numpy as np


def apply_floor(pmf: Sequence[float], floor: float) -> list[float]:
    """Mix with uniform just enough that every action has at least `floor` probability.

    Why: a logged probability near zero makes inverse-propensity weights explode, and an action
    that is never shown can never be learned about. Capped at uniform when K * floor >= 1.
    Pure Python: for a handful of actions it is several times faster than numpy.
    """
    if isinstance(pmf, np.ndarray):
        pmf = pmf.tolist()  # Python floats: iterating numpy scalars is slow
    k = len(pmf)
    if min(pmf) < 0.0:
        pmf = [p if p > 0.0 else 0.0 for p in pmf]
    total = sum(pmf)
    if not total > 0.0 or total != total:
        return [1.0 / k] * k
    probs = [p / total for p in pmf]  # VW's pmf is float32: renormalize in double
    low = min(probs)
    floor = min(floor, 1.0 / k)
    if low < floor:
        # smallest mixing weight w with (1 - w) * low + w / k >= floor
        w = (floor - low) / (1.0 / k - low)
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
