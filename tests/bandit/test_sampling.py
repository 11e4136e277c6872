"""The inverse-CDF draw of bandit.sampling on hand-made pmfs: which index each uniform number gives.

Written against the mutants mutmut left alive in bandit/sampling.py (docs/testing.md); the floor itself
is pinned in tests/test_mutants_policy.py, the exploration budget that prices it per decision here.
"""

from __future__ import annotations

import pytest

from bandit.sampling import MIN_PROPENSITY, MIN_SHARE, apply_floor, floor_for, sample_index, settled_scale


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
    assert sample_index(probs, 1.0 - 2.0**-53) == 9
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


# -- the exploration budget: the floor priced per decision, by hand ----------------------------------
@pytest.mark.parametrize(
    "k, floor, budget, expected",
    [
        (3, 0.01, 0.05, 0.01),  # 5% / 3 = 1.67% > 1%: few candidates keep the per-candidate floor
        (5, 0.01, 0.05, 0.01),  # 5% / 5 = 1% exactly
        (8, 0.01, 0.05, 0.00625),  # 5% / 8
        (18, 0.01, 0.05, 0.05 / 18),  # the title: 5% in total, not 17%
        (25, 0.01, 0.05, 0.002),  # 5% / 25 = 0.2% = MIN_SHARE
        (50, 0.01, 0.05, 0.002),  # 5% / 50 = 0.1% < MIN_SHARE: held at 0.2% (weights <= 500 until it settles)
        (50, 0.001, 0.05, 0.001),  # never above the caller's own floor
        (50, 0.01, 1.0, 0.01),  # a budget of 100%: min(1%, 2%)
        (18, 0.01, None, 0.01),  # no budget: 1% per candidate, as before
        (18, 0.0, 0.05, 0.0),  # no floor at all stays no floor
    ],
)
def test_the_budget_spreads_the_floor_over_the_candidates(k, floor, budget, expected):
    assert floor_for(k, floor, budget) == pytest.approx(expected, abs=1e-18)
    assert floor_for(k, floor, budget, 1.0) == floor_for(k, floor, budget)
    assert MIN_SHARE == 0.002 and 1 / MIN_SHARE == 500  # the largest importance weight before it settles


@pytest.mark.parametrize(
    "n, decay, scale",
    [
        (0, 5000, 1.0),
        (5000, 5000, 1.0),  # the budget as it is up to `decay` learned events
        (20000, 5000, 0.5),  # then sqrt(decay / n): halved when n is four times decay
        (500000, 5000, 0.1),
        (10**9, None, 1.0),  # no decay: a floor that stays
    ],
)
def test_the_floor_settles_as_the_square_root_of_the_evidence(n, decay, scale):
    assert settled_scale(n, decay) == pytest.approx(scale, rel=1e-15)


@pytest.mark.parametrize(
    "k, floor, budget, scale, expected",
    [
        (18, 0.01, 0.05, 0.5, 0.05 / 18 / 2),  # half the budget's share
        (3, 0.01, 0.05, 0.5, 0.005),  # few candidates: half the per-candidate floor
        (50, 0.01, 0.05, 0.5, 0.001),  # MIN_SHARE halved
        (50, 0.01, 0.05, 0.1, 0.0005),  # held at MIN_PROPENSITY: weights <= 2,000 for ever
        (18, 0.01, 0.05, 1e-9, 0.0005),
        (18, 0.0003, 0.05, 0.1, 0.0003),  # a caller's floor below MIN_PROPENSITY is never raised
        (18, 0.01, None, 0.1, 0.01),  # no budget: the per-candidate floor, unsettled
    ],
)
def test_a_settled_floor_never_goes_below_the_minimum_propensity(k, floor, budget, scale, expected):
    assert floor_for(k, floor, budget, scale) == pytest.approx(expected, abs=1e-18)
    assert MIN_PROPENSITY == 0.0005 and 1 / MIN_PROPENSITY == 2000  # the largest importance weight ever
    greedy = apply_floor([1.0] + [0.0] * (k - 1), floor, budget, scale)
    assert min(greedy) == pytest.approx(min(expected, 1 / k), abs=1e-15)


def test_a_greedy_pmf_over_18_candidates_explores_the_budget_not_17_percent():
    greedy = [1.0] + [0.0] * 17
    # per candidate: low 0 < floor 0.01: w = 0.01 / (1/18) = 0.18, so 17 x 1% = 17% explored
    old = apply_floor(greedy, 0.01)
    assert old[1:] == pytest.approx([0.01] * 17, abs=1e-15) and 1 - old[0] == pytest.approx(0.17, abs=1e-12)
    # budget 5%: floor 0.05 / 18, w = (0.05 / 18) / (1/18) = 0.05: the best keeps 0.95 + 0.05 / 18
    new = apply_floor(greedy, 0.01, 0.05)
    assert new[0] == pytest.approx(0.95 + 0.05 / 18, abs=1e-15)
    assert new[1:] == pytest.approx([0.05 / 18] * 17, abs=1e-15)
    assert sum(new[1:]) == pytest.approx(0.05 * 17 / 18, abs=1e-15)


def test_fifty_candidates_stop_at_the_minimum_propensity():
    # floor 0.002 (the budget's 0.001 is below it): w = 0.002 * 50 = 0.1; the best keeps 0.9 + 0.002
    out = apply_floor([1.0] + [0.0] * 49, 0.01, 0.05)
    assert out[0] == pytest.approx(0.902, abs=1e-15) and min(out) == pytest.approx(0.002, abs=1e-15)
    assert max(1 / p for p in out) == pytest.approx(500.0, rel=1e-12)


def test_a_pmf_above_the_budget_floor_is_left_alone():
    # 8 candidates, floor 0.00625: the lowest 0.0078125 (exact binary fractions) is above it
    pmf = [0.5, 0.25, 0.125, 0.0625, 0.03125, 0.0078125, 0.0078125, 0.015625]
    assert apply_floor(pmf, 0.01, 0.05) == pmf
    assert apply_floor(pmf, 0.01)[5] == pytest.approx(0.01, abs=1e-15)  # the per-candidate floor lifts it


def _greedy_policy_class():
    """A policy that always prefers its first candidate (a pmf of 1, 0, 0, ...) and feeds the drift
    test every learned reward: what is left of the floor is exactly what the tests read."""
    from bandit.policies.base import Policy
    from bandit.policies.drift_hook import DriftHook

    class Greedy(DriftHook, Policy):
        def _pmf(self, prepared, entries):
            return [1.0] + [0.0] * (len(entries) - 1)

        def _update(self, prepared, entries, index, reward01, probability):
            self._watch(reward01)

    return Greedy


def test_a_policy_logs_the_budget_floor_and_a_drift_boost_sets_the_budget_aside():
    Greedy = _greedy_policy_class()
    actions = [{"id": f"v{i}", "features": {}} for i in range(18)]
    policy = Greedy(seed=0)
    policy._init_drift(3000, 0.05)
    assert policy.exploration_budget == 0.05  # the default
    d = policy.rank({}, actions, now=0.0)
    assert min(d.pmf) == pytest.approx(0.05 / 18, abs=1e-15) and d.pmf[0] == pytest.approx(0.95 + 0.05 / 18)
    policy.drift_boost = 2
    policy._drift.update = lambda reward: "drop"  # the Page-Hinkley test raises a drop
    policy._watch(0.0)
    policy._drift.update = lambda reward: None
    assert policy.exploration_budget is None and policy.min_probability == 0.05
    d = policy.rank({}, actions, now=1.0)
    assert min(d.pmf) == pytest.approx(0.05, abs=1e-15)  # the drift floor for every candidate: 85% explored
    policy._watch(1.0)
    policy._watch(1.0)  # the boost is over: the budget is back
    assert policy.exploration_budget == 0.05 and policy.min_probability == 0.01
    unbudgeted = Greedy(seed=0, exploration_budget=None)
    assert min(unbudgeted.rank({}, actions, now=0.0).pmf) == pytest.approx(0.01, abs=1e-15)


def test_the_floor_settles_with_learned_events_and_a_drift_starts_it_again():
    Greedy = _greedy_policy_class()
    actions = [{"id": f"v{i}", "features": {}} for i in range(18)]
    policy = Greedy(seed=0, exploration_decay=10)
    policy._init_drift(2, 0.05)
    policy._watching = False  # the Page-Hinkley test is driven by hand below

    def learn(n):
        for _ in range(n):
            policy.learn({}, actions, 0, 1.0, 0.9)

    def lowest():
        return min(policy.rank({}, actions, now=0.0).pmf)

    learn(10)
    assert lowest() == pytest.approx(0.05 / 18, abs=1e-15)  # up to `decay` events: the budget
    learn(30)
    assert policy.exploration_scale == 0.5 and lowest() == pytest.approx(0.05 / 36, abs=1e-15)
    learn(99_960)  # 100,000 events: sqrt(10 / 100,000) = 1%, held at MIN_PROPENSITY
    assert lowest() == pytest.approx(MIN_PROPENSITY, abs=1e-15)
    policy._watching = True
    # a drift is detected by the 100,001st event (recorded as the 100,000 learned before it)
    policy._drift.update = lambda reward: "drop"
    learn(1)
    policy._drift.update = lambda reward: None
    assert policy.drift_events == [100_000] and lowest() == pytest.approx(0.05, abs=1e-15)  # the boost
    learn(2)  # the boost is over: the budget is back, unsettled (3 events since the drift)
    assert policy.exploration_scale == 1.0 and lowest() == pytest.approx(0.05 / 18, abs=1e-15)
    learn(37)  # 40 since the drift
    assert lowest() == pytest.approx(0.05 / 36, abs=1e-15)
    # without a drift test (drift_boost=0, or a policy with no hook) nothing would restart it: no settling
    blind = Greedy(seed=0, exploration_decay=10)
    blind._init_drift(0, 0.05)
    blind._watching = False
    for _ in range(1000):
        blind.learn({}, actions, 0, 1.0, 0.9)
    assert not blind.watches_drift and blind.exploration_scale == 1.0
    assert min(blind.rank({}, actions, now=0.0).pmf) == pytest.approx(0.05 / 18)
    fixed = Greedy(seed=0, exploration_decay=None)
    fixed._init_drift(2, 0.05)
    fixed._watching = False
    for _ in range(1000):
        fixed.learn({}, actions, 0, 1.0, 0.9)
    assert fixed.exploration_scale == 1.0 and min(fixed.rank({}, actions, now=0.0).pmf) == pytest.approx(0.05 / 18)


@pytest.mark.parametrize("bad", [0, -5, 2.5, "5000", True])
def test_a_bad_decay_is_a_one_line_error(bad):
    from bandit import BanditError
    from bandit.options import PolicyOptions

    with pytest.raises(BanditError, match="exploration_decay"):
        PolicyOptions(exploration_decay=bad)


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, "5%", True, float("nan")])
def test_a_bad_budget_is_a_one_line_error(bad):
    from bandit import BanditError
    from bandit.options import PolicyOptions

    with pytest.raises(BanditError, match="exploration_budget"):
        PolicyOptions(exploration_budget=bad)


def _plain_floor(pmf, floor, budget=None):
    """apply_floor as it was written before issue 31's speed work (two passes for the minimum)."""
    import math

    import numpy as np

    if isinstance(pmf, np.ndarray):
        pmf = pmf.tolist()
    k = len(pmf)
    if budget is not None:
        floor = floor_for(k, floor, budget)
    if min(pmf) < 0.0:
        pmf = [p if p > 0.0 else 0.0 for p in pmf]
    total = math.fsum(pmf)
    if not total > 0.0 or total != total:
        return [1.0 / k] * k
    probs = [p / total for p in pmf]
    low = min(probs)
    if floor > 1.0 / k:
        floor = 1.0 / k
    if low < floor:
        w = (floor - low) / (1.0 / k - low)
        keep, add = 1.0 - w, w / k
        probs = [keep * p + add for p in probs]
    return probs


def test_the_floor_is_bit_for_bit_the_plain_two_pass_one():
    """The minimum of the renormalised pmf is taken as min(pmf) / total (division by a positive
    finite number keeps the order): the same floats as the plain form, on float32 and float64
    pmfs, negatives, zeros, NaN and infinities."""
    import random

    import numpy as np

    rng = random.Random(0)
    odd = [0.0, -0.0, 1e-9, -1e-7, 1e-300, float("inf"), float("nan")]
    for t in range(20_000):
        k = rng.randint(1, 12)
        pmf = [rng.choice(odd) if rng.random() < 0.2 else rng.random() for _ in range(k)]
        if t % 3 == 0:
            pmf = np.array(pmf, dtype=np.float32)
        floor, budget = rng.choice([0.0, 0.01, 0.05, 0.5]), rng.choice([None, 0.05, 1.0])
        want = [p.hex() for p in _plain_floor(pmf, floor, budget)]
        assert [p.hex() for p in apply_floor(pmf, floor, budget)] == want, (pmf, floor, budget)
