"""The inverse-CDF draw of bandit.sampling on hand-made pmfs: which index each uniform number gives.

Written against the mutants mutmut left alive in bandit/sampling.py (docs/testing.md); the floor itself
is pinned in tests/test_mutants_policy.py.
"""
from __future__ import annotations

import pytest

from bandit.sampling import apply_floor, sample_index


@pytest.mark.parametrize("u, index", [(0.0, 0), (0.2499, 0), (0.25, 1), (0.7499, 1), (0.75, 2), (0.9999, 2)])
def test_each_uniform_number_falls_in_its_actions_interval(u, index):
    # cdf [0.25, 0.75, 1.0] (exact binary fractions): [0, .25) -> 0, [.25, .75) -> 1, [.75, 1) -> 2
    assert sample_index([0.25, 0.5, 0.25], u) == index


def test_a_boundary_belongs_to_the_next_action():
    assert sample_index([0.5, 0.5], 0.5) == 1
    assert sample_index([0.0, 1.0], 0.0) == 1  # an action with probability 0 is never drawn


@pytest.mark.parametrize("u, index", [(0.0, 0), (0.2, 0), (0.25, 1), (0.99, 1)])
def test_scores_that_do_not_sum_to_one_are_scaled(u, index):
    # [1, 3] sums to 4: u is scaled to 4u, so [0, .25) -> 0 and [.25, 1) -> 1
    assert sample_index([1.0, 3.0], u) == index


def test_a_pmf_a_little_short_of_one_still_reaches_its_last_action():
    probs = [0.1] * 10  # adds up to 0.9999999999999999 in floating point
    assert sum(probs) < 1.0
    assert sample_index(probs, 1.0 - 2.0 ** -53) == 9
    assert sample_index(probs, 0.95) == 9


def test_the_floor_then_the_draw():
    # floor 0.06 over three actions: w = 0.06 / (1/3) = 0.18, so [0.82 * 0.7 + 0.06, 0.82 * 0.3 + 0.06, 0.06]
    probs = apply_floor([0.7, 0.3, 0.0], 0.06)
    assert probs == pytest.approx([0.82 * 0.7 + 0.06, 0.82 * 0.3 + 0.06, 0.06], abs=1e-15)
    # cdf [0.634, 0.94, 1.0]
    assert [sample_index(probs, u) for u in (0.63, 0.64, 0.93, 0.95)] == [0, 1, 1, 2]


def test_a_total_of_two_is_scaled_too():
    # [0.5, 1.5]: u = 0.3 is 0.6 of the total 2, past the first action's 0.5
    assert sample_index([0.5, 1.5], 0.3) == 1
    assert sample_index([0.5, 1.5], 0.2) == 0


def test_a_nan_score_makes_the_whole_pmf_uniform():
    # NaN is not a probability: the scores cannot be trusted, so uniform (not the other scores renormalized)
    assert apply_floor([0.5, float("nan")], 0.0) == [0.5, 0.5]
    assert apply_floor([0.0, 0.5, float("nan")], 0.0) == [1 / 3] * 3


def test_a_uniform_pmf_under_a_floor_capped_at_uniform_stays_uniform():
    # low == floor == 1/k: nothing to mix (and no 0/0 on the way)
    assert apply_floor([0.25] * 4, 0.5) == [0.25] * 4
    assert apply_floor([0.5, 0.5], 0.5) == [0.5, 0.5]
