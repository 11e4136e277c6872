"""Statistical tests of the estimators on logs drawn from a small known world (exact truth).

Estimator values and intervals computed by hand on a four-event log, and the variance properties
that tell the estimators apart (a SNIPS computed as IPS, or a DR that ignores its reward model, fails here).

Exact values of the OPE estimators on a hand-computed four-event log, and every edge of their rules.

Written against the mutants mutmut left alive in simulations/ope/estimators.py (docs/testing.md): each
expected number below is worked out by hand in the comments (checked with the stdlib `statistics`
module), never by calling the estimators' own code.

Intervals honest at the edges (issue 33): never wider than the reward range, never of zero width
from a few hundred events without a success, and Wilson-type when successes or failures are few.
Every expected number is worked out from the formulas in the comments, not by the code under test.
"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest

from simulations.errors import SimulationError
from simulations.ope import replay_log
from simulations.ope.estimators import OPEArrays, cumulative_curve, diagnostics, estimate, ratio_interval, terms
from simulations.ope.streaming import PolicyStream
from tests.replay_helpers import greedy_pi, make_world, simulate_log, smooth_pi

SEEDS = range(30)


def arrays(world, log, pi, q=None, seed=0):
    """Estimator inputs for fixed target pi; q is a reward model q[s, a] (None: no DM/DR)."""
    seg, act = log["segment"], log["action"]
    rng = np.random.default_rng(seed + 1000)
    cum = np.cumsum(pi[seg], axis=1)
    sampled = np.minimum((rng.random(len(seg))[:, None] >= cum).sum(axis=1), world.k - 1)
    kw = {}
    if q is not None:
        kw = {"dm": np.sum(pi[seg] * q[seg], axis=1), "q_logged": q[seg, act]}
    return OPEArrays(
        reward=log["reward"],
        logged_p=log["propensity"],
        target_p=pi[seg, act],
        matched=sampled == act,
        zero_support=np.sum(pi[seg] * (log["pmf"] <= 0), axis=1),
        n_candidates=np.full(len(seg), world.k),
        **kw,
    )


@pytest.mark.parametrize("logger", ["uniform", "softmax"])
@pytest.mark.parametrize("target", ["greedy", "smooth"])
def test_intervals_cover_the_true_value_and_estimators_are_unbiased(logger, target):
    world = make_world(seed=7)
    pi = greedy_pi(world) if target == "greedy" else smooth_pi(world)
    truth = world.value(pi)
    # a deliberately wrong reward model: DR must stay unbiased anyway, DM inherits the error
    q = np.clip(world.click_p + 0.15, 0, 1)
    names = ["ips", "snips", "dr"] + (["replay"] if logger == "uniform" else [])
    covered = {n: 0 for n in names}
    values = {n: [] for n in names + ["dm"]}
    for seed in SEEDS:
        log = simulate_log(world, 4000, logger, seed)
        data = arrays(world, log, pi, q, seed)
        for n in names + ["dm"]:
            e = estimate(n, data)
            values[n].append(e.value)
            if n in covered:
                covered[n] += e.low <= truth <= e.high
    for n in names:
        # nominal 95%: 30 draws give >= 25 covered with probability > 0.99
        assert covered[n] >= 25, (n, covered[n])
        v = np.array(values[n])
        se = v.std(ddof=1) / np.sqrt(len(v))
        assert abs(v.mean() - truth) < 3.5 * se + 1e-3, (n, v.mean(), truth)
    # DM carries the reward model's +0.15 error; DR corrected it
    assert np.mean(values["dm"]) - truth > 0.1
    assert abs(np.mean(values["dr"]) - truth) < 0.02


def test_target_equal_to_logger_has_unit_weights_and_full_ess():
    world = make_world(seed=3)
    log = simulate_log(world, 2000, "softmax", 0)
    from tests.replay_helpers import logger_pmf

    e = estimate("ips", arrays(world, log, logger_pmf(world, "softmax")))
    d = e.diagnostics
    assert d.max_weight == pytest.approx(1.0) and d.mean_weight == pytest.approx(1.0)
    assert d.ess == pytest.approx(2000)
    assert e.value == pytest.approx(log["reward"].mean())
    assert e.warnings == []


def test_replay_matches_online_ctr_of_a_policy_on_uniform_logs():
    world = make_world(seed=11)
    pi = smooth_pi(world)
    log = simulate_log(world, 20000, "uniform", 5)
    e = estimate("replay", arrays(world, log, pi))
    assert e.diagnostics.events_used == pytest.approx(20000 / world.k, rel=0.05)
    assert e.low <= world.value(pi) <= e.high
    assert e.high - e.low < 0.04


def test_deterministic_logger_and_tiny_overlap_warn():
    world = make_world(seed=1)
    log = simulate_log(world, 3000, "deterministic", 0)
    e = estimate("ips", arrays(world, log, greedy_pi(world)))
    text = " ".join(e.warnings)
    assert "deterministic" in text
    assert e.diagnostics.zero_support_share == pytest.approx(1.0)
    assert "never chose" in text

    # softmax logger, target concentrated on the logger's least likely action: tiny overlap
    log = simulate_log(world, 3000, "softmax", 0)
    from tests.replay_helpers import logger_pmf

    mu = logger_pmf(world, "softmax")
    worst = np.zeros_like(mu)
    worst[np.arange(world.segments), np.argmin(mu, axis=1)] = 1.0
    e = estimate("snips", arrays(world, log, worst))
    assert e.diagnostics.ess < 0.05 * 3000
    assert any("overlap" in w for w in e.warnings)


def test_replay_warns_on_non_uniform_logs():
    world = make_world(seed=2)
    log = simulate_log(world, 3000, "softmax", 0)
    e = estimate("replay", arrays(world, log, smooth_pi(world)))
    assert any("uniformly random" in w for w in e.warnings)


def test_bootstrap_interval_agrees_with_the_asymptotic_one():
    world = make_world(seed=4)
    log = simulate_log(world, 5000, "softmax", 1)
    data = arrays(world, log, smooth_pi(world))
    a = estimate("snips", data)
    b = estimate("snips", data, bootstrap=400, seed=3)
    assert b.interval == "bootstrap" and a.interval == "asymptotic"
    assert b.value == a.value
    assert b.high - b.low == pytest.approx(a.high - a.low, rel=0.2)
    again = estimate("snips", data, bootstrap=400, seed=3)
    assert (again.low, again.high) == (b.low, b.high)


def test_learning_curve_ends_at_the_estimate():
    world = make_world(seed=4)
    log = simulate_log(world, 999, "uniform", 1)
    data = arrays(world, log, smooth_pi(world))
    ks, vals = cumulative_curve("ips", data, points=10)
    assert ks[-1] == 999 and len(ks) == 10
    assert vals[-1] == pytest.approx(estimate("ips", data).value)


def test_bad_arrays_are_user_errors():
    with pytest.raises(SimulationError, match="logged probabilities"):
        OPEArrays(reward=[1.0, 0.0], logged_p=[0.5, 0.0], target_p=[1.0, 0.0])
    with pytest.raises(SimulationError, match="2 values"):
        OPEArrays(reward=[1.0, 0.0, 1.0], logged_p=[0.5, 0.5], target_p=[1.0, 0.0, 1.0])
    data = OPEArrays(reward=[1.0], logged_p=[0.5], target_p=[1.0])
    with pytest.raises(SimulationError, match="unknown estimator"):
        estimate("switch", data)
    with pytest.raises(SimulationError, match="reward-model"):
        estimate("dr", data)


Z95 = 1.959963984540054  # the 97.5% point of the standard normal

# four logged events: reward, logging probability of the logged action, target's probability of it,
# the reward model's value of the target (dm = sum_a pi(a|x) q(x,a)) and of the logged action
REWARD = [1.0, 0.0, 1.0, 0.0]
LOGGED_P = [0.5, 0.25, 0.5, 0.8]
TARGET_P = [1.0, 0.5, 0.0, 0.4]  # importance weights 2, 2, 0, 0.5
DM = [0.6, 0.3, 0.2, 0.5]
Q_LOGGED = [0.7, 0.4, 0.5, 0.5]
MATCHED = [True, True, False, True]


def tiny() -> OPEArrays:
    return OPEArrays(
        reward=REWARD, logged_p=LOGGED_P, target_p=TARGET_P, dm=DM, q_logged=Q_LOGGED, matched=np.array(MATCHED)
    )


def sample_sd(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


# by hand: w*r = [2, 0, 0, 0]; sum w = 4.5
HAND = {
    # IPS = 2/4; terms [2, 0, 0, 0] have sample sd 1, so se = 1/sqrt(4)
    "ips": (0.5, 0.5),
    # SNIPS = 2/4.5 = 4/9; residuals w*r - 4/9*w = [10/9, -8/9, 0, -2/9], sum of squares 168/81, so
    # sd = sqrt(56)/9 and se = sd / (sqrt(4) * mean w) = sqrt(56)/9 / (2 * 9/8)
    "snips": (4 / 9, math.sqrt(56) / 9 / (2 * 9 / 8)),
    # DM = mean of [0.6, 0.3, 0.2, 0.5] = 0.4; deviations +-0.2, +-0.1: sd = sqrt(0.1/3)
    "dm": (0.4, math.sqrt(0.1 / 3) / 2),
    # DR terms: 0.6 + 2(1-0.7) = 1.2, 0.3 + 2(0-0.4) = -0.5, 0.2 + 0 = 0.2, 0.5 + 0.5(0-0.5) = 0.25
    "dr": (1.15 / 4, sample_sd([1.2, -0.5, 0.2, 0.25]) / 2),
    # replay: rewards of the 3 matched events [1, 0, 0] -> 1/3; residuals [2/3, -1/3, 0, -1/3]:
    # sd = sqrt((4/9 + 1/9 + 1/9) / 3) = sqrt(2)/3, se = sd / (2 * 3/4)
    "replay": (1 / 3, math.sqrt(2) / 3 / 1.5),
}


@pytest.mark.parametrize("name", list(HAND))
def test_value_and_asymptotic_interval_by_hand(name):
    value, se = HAND[name]
    e = estimate(name, tiny())
    assert e.value == pytest.approx(value, abs=1e-12)
    assert e.stderr == pytest.approx(se, abs=1e-12)
    # the delta method's interval (before the edge rule, which four events always meet:
    # tests/simulations/ope/test_estimators.py computes that one by hand)
    low, high = ratio_interval(*terms(name, tiny()))[1:3]
    assert (low, high) == (pytest.approx(value - Z95 * se, abs=1e-12), pytest.approx(value + Z95 * se, abs=1e-12))
    low90, high90 = ratio_interval(*terms(name, tiny()), confidence=0.90)[1:3]
    assert high90 - low90 == pytest.approx(2 * 1.6448536269514722 * se, abs=1e-12)


def test_diagnostics_by_hand():
    d = estimate("ips", tiny()).diagnostics
    assert d.events == d.events_used == 4
    assert d.ess == pytest.approx(4.5**2 / (4 + 4 + 0 + 0.25))  # (sum w)^2 / sum w^2
    assert (d.max_weight, d.mean_weight) == (2.0, pytest.approx(4.5 / 4))
    assert estimate("replay", tiny()).diagnostics.events_used == 3


def test_bootstrap_interval_of_ips_by_hand():
    # resampling 4 events, IPS = (number of copies of event 1) / 2 with that number ~ Binomial(4, 1/4):
    # P(0) = 0.316 > 2.5%, so the 2.5% point is 0; P(<= 2) = 0.949 and P(<= 3) = 0.996, so the 97.5%
    # point is 3/2
    e = estimate("ips", tiny(), bootstrap=4000, seed=1)
    assert e.interval == "bootstrap" and e.value == 0.5
    assert ratio_interval(*terms("ips", tiny()), bootstrap=4000, seed=1)[1:3] == (0.0, 1.5)
    assert (e.low, e.high) == (0.0, 1.0)  # clipped to the reward range: no policy earns 1.5 clicks an event
    # the bootstrap standard error approaches the plug-in one: sd of w*r with ddof 0, over sqrt(4)
    assert e.stderr == pytest.approx(math.sqrt(0.75) / 2, rel=0.05)


# three user segments x four actions: mean rewards, a logger that explores unevenly and a target that
# mostly picks one action per segment, so importance weights range from 0.25 to 7
CLICK = np.array([[0.9, 0.6, 0.5, 0.7], [0.4, 0.85, 0.6, 0.5], [0.6, 0.7, 0.55, 0.8]])
LOGGER = np.array([[0.1, 0.2, 0.3, 0.4], [0.4, 0.1, 0.3, 0.2], [0.25, 0.25, 0.4, 0.1]])
TARGET = np.array([[0.7, 0.1, 0.1, 0.1], [0.1, 0.7, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7]])
TRUTH = float(np.mean(np.sum(TARGET * CLICK, axis=1)))


def _log(seed: int, n: int = 1000) -> OPEArrays:
    """n events; rewards are the mean reward plus small noise; q is the exact mean reward (a perfect model)."""
    rng = np.random.default_rng(seed)
    seg = rng.integers(0, 3, n)
    act = np.array([rng.choice(4, p=LOGGER[s]) for s in seg])
    reward = CLICK[seg, act] + rng.normal(0, 0.05, n)
    return OPEArrays(
        reward=reward,
        logged_p=LOGGER[seg, act],
        target_p=TARGET[seg, act],
        dm=np.sum(TARGET[seg] * CLICK[seg], axis=1),
        q_logged=CLICK[seg, act],
    )


@pytest.fixture(scope="module")
def spread() -> tuple[dict[str, np.ndarray], np.ndarray]:
    values: dict[str, list[float]] = {name: [] for name in ("ips", "snips", "dr")}
    mean_w = []
    for seed in range(40):
        data = _log(seed)
        for name in values:
            values[name].append(estimate(name, data).value)
        mean_w.append(float(np.mean(data.weights)))
    return {k: np.array(v) for k, v in values.items()}, np.array(mean_w)


def test_dr_with_a_perfect_reward_model_has_a_much_smaller_spread_than_ips(spread):
    values, _ = spread
    ips, dr = values["ips"].std(ddof=1), values["dr"].std(ddof=1)
    assert dr < 0.2 * ips, (dr, ips)  # measured: 0.004 against 0.058
    assert abs(values["dr"].mean() - TRUTH) < 3 * dr / np.sqrt(40)
    assert abs(values["ips"].mean() - TRUTH) < 3 * ips / np.sqrt(40)


def test_snips_differs_from_ips_in_the_direction_of_the_mean_weight(spread):
    values, mean_w = spread
    # SNIPS = IPS / mean weight: below IPS when the realised weights average above 1, above it otherwise
    assert np.all(np.abs(mean_w - 1) > 1e-6) and mean_w.min() < 1 < mean_w.max()
    assert np.all(np.sign(values["ips"] - values["snips"]) == np.sign(mean_w - 1))
    np.testing.assert_allclose(values["snips"], values["ips"] / mean_w, rtol=1e-12)
    # self-normalising pays off with positive rewards and varying weights: a much smaller spread
    assert values["snips"].std(ddof=1) < 0.5 * values["ips"].std(ddof=1)  # measured: 0.008 against 0.058


M_REWARD = [1.0, 0.0, 1.0, 0.0]
M_LOGGED_P = [0.5, 0.25, 0.5, 0.8]
M_TARGET_P = [1.0, 0.5, 0.25, 0.0]
M_DM = [0.6, 0.3, 0.5, 0.2]  # sum_a pi(a|x) q(x, a)
M_Q_LOGGED = [0.7, 0.2, 0.4, 0.1]  # q(x_i, a_i)
M_MATCHED = [True, True, False, False]
Z80 = 1.2815515655446004  # Phi^-1(0.9)

# value, standard error (delta method: sd(num - value*den, ddof=1) / (sqrt(n) * mean(den)))
EXPECTED = {
    # IPS: (2 + 0 + 0.5 + 0) / 4; residuals [1.375, -0.625, -0.125, -0.625], sd 0.94648, se sd/2
    "ips": (0.625, 0.4732423621500228),
    # SNIPS: 2.5 / (2 + 2 + 0.5 + 0)
    "snips": (2.5 / 4.5, 0.3695464085702658),
    # DM: mean(DM) = 1.6 / 4
    "dm": (0.4, 0.09128709291752768),
    # DR: DM + w (r - q) = [0.6 + 2*0.3, 0.3 - 2*0.2, 0.5 + 0.5*0.6, 0.2 + 0] = [1.2, -0.1, 0.8, 0.2]; 2.1 / 4
    "dr": (0.525, 0.2926174977679907),
    # replay: matched rewards [1, 0] / 2 matched; residuals [0.5, -0.5, 0, 0], se 0.40825 / (2 * 0.5)
    "replay": (0.5, 0.408248290463863),
}


def tiny_log(**overrides) -> OPEArrays:
    # the optional arrays are not coerced by OPEArrays (only reward/logged_p/target_p are): pass numpy
    kw = dict(
        reward=M_REWARD,
        logged_p=M_LOGGED_P,
        target_p=M_TARGET_P,
        dm=np.array(M_DM),
        q_logged=np.array(M_Q_LOGGED),
        matched=np.array(M_MATCHED),
    )
    kw.update(overrides)
    return OPEArrays(**kw)


def raw(name: str, data: OPEArrays, **kw) -> tuple[float, float]:
    """The delta-method (or bootstrap) interval before the edge rule (tests/simulations/ope/test_estimators.py pins that)."""
    return ratio_interval(*terms(name, data), **kw)[1:3]


def core(warnings_: list[str]) -> list[str]:
    """Warnings but the few-successes one (four events, or all-zero rewards, always have it)."""
    return [w for w in warnings_ if "Wilson" not in w]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_estimator_matches_the_hand_computed_value_and_interval(name):
    value, se = EXPECTED[name]
    e = estimate(name, tiny_log())
    assert e.estimator == name
    assert e.value == pytest.approx(value, abs=1e-12)
    assert e.stderr == pytest.approx(se, rel=1e-9)
    low, high = raw(name, tiny_log())
    assert low == pytest.approx(value - Z95 * se, rel=1e-9)
    assert high == pytest.approx(value + Z95 * se, rel=1e-9)
    # four events, at most two paying: the reported interval contains that one, within [0, 1]
    assert e.low <= max(low, 0.0) and e.high >= min(high, 1.0) and 0.0 <= e.low and e.high <= 1.0
    assert (e.interval, e.confidence) == ("asymptotic", 0.95)
    d = e.to_dict()
    assert set(d) == {
        "estimator",
        "value",
        "low",
        "high",
        "stderr",
        "interval",
        "confidence",
        "diagnostics",
        "warnings",
    }
    assert d["estimator"] == name and d["stderr"] == e.stderr and d["confidence"] == 0.95
    assert d["diagnostics"] == {
        "events": 4,
        "events_used": 2 if name == "replay" else 4,
        "ess": e.diagnostics.ess,
        "max_weight": 2.0,
        "mean_weight": 1.125,
        "zero_support_share": None,
        "deterministic_share": 0.0,
    }


def test_the_five_estimators_disagree_on_the_tiny_log():
    """SNIPS computed as IPS, DR ignoring its reward model (= IPS) or DM: each would collide here."""
    values = {n: estimate(n, tiny_log()).value for n in EXPECTED}
    assert len({round(v, 9) for v in values.values()}) == 5


def test_confidence_reaches_the_interval():
    e = estimate("dr", tiny_log(), confidence=0.8)
    assert e.confidence == 0.8
    low, high = raw("dr", tiny_log(), confidence=0.8)
    assert low == pytest.approx(0.525 - Z80 * EXPECTED["dr"][1], rel=1e-9)
    assert high == pytest.approx(0.525 + Z80 * EXPECTED["dr"][1], rel=1e-9)


def test_ratio_interval_defaults_are_95_percent_asymptotic():
    num, den = np.array([2.0, 0.0, 0.5, 0.0]), np.ones(4)
    value, low, high, se, method = ratio_interval(num, den)
    assert method == "asymptotic"
    assert (low, high) == pytest.approx((0.625 - Z95 * se, 0.625 + Z95 * se), rel=1e-12)
    assert se == pytest.approx(EXPECTED["ips"][1], rel=1e-9)


def test_weights_ess_and_diagnostics_by_hand():
    d = diagnostics("ips", tiny_log())
    # ess = (sum w)^2 / sum w^2 = 4.5^2 / (4 + 4 + 0.25)
    assert d.ess == pytest.approx(20.25 / 8.25, rel=1e-12)
    assert (d.events, d.events_used, d.max_weight, d.mean_weight) == (4, 4, 2.0, 1.125)
    r = diagnostics("replay", tiny_log())
    assert (r.events_used, r.ess) == (2, 2.0)
    # one event with weight 0.5: sum w^2 = 0.25 < 1 still gives ess (0.5^2 / 0.25) = 1
    assert diagnostics("ips", OPEArrays(reward=[1.0], logged_p=[1.0], target_p=[0.5])).ess == 1.0
    # a target that never takes the logged actions: no effective events at all
    assert diagnostics("ips", OPEArrays(reward=[1.0, 0.0], logged_p=[0.5, 0.5], target_p=[0.0, 0.0])).ess == 0.0


def test_deterministic_share_counts_p_equal_to_the_threshold():
    d = diagnostics("ips", OPEArrays(reward=[0, 0, 0, 0], logged_p=[0.999, 0.5, 0.5, 1.0], target_p=[1, 1, 1, 1]))
    assert d.deterministic_share == 0.5
    assert diagnostics("ips", OPEArrays(reward=[0], logged_p=[0.9989], target_p=[1])).deterministic_share == 0.0


def test_zero_support_share_only_when_given():
    assert diagnostics("ips", tiny_log()).zero_support_share is None
    assert diagnostics(
        "ips", tiny_log(zero_support=np.array([0.0, 0.5, 0.0, 0.3]))
    ).zero_support_share == pytest.approx(0.2)


def test_an_empty_log_has_no_estimate_and_says_so():
    none = np.array([])
    empty = OPEArrays(reward=[], logged_p=[], target_p=[], zero_support=none, dm=none, q_logged=none)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy "mean of empty slice" on the way
        e = estimate("dr", empty)
        ks, vals = cumulative_curve("ips", empty)
    assert all(math.isnan(x) for x in (e.value, e.low, e.high, e.stderr)) and e.interval == "none"
    assert e.warnings == ["no events: nothing to estimate"]
    d = e.diagnostics
    assert (d.events, d.max_weight, d.mean_weight, d.deterministic_share, d.zero_support_share) == (
        0,
        0.0,
        0.0,
        0.0,
        None,
    )
    assert (ks, vals) == ([], [])


def test_no_weight_mass_gives_no_snips_value():
    e = estimate("snips", OPEArrays(reward=[1.0, 1.0], logged_p=[0.5, 0.5], target_p=[0.0, 0.0]))
    assert all(math.isnan(x) for x in (e.value, e.low, e.high, e.stderr)) and e.interval == "none"
    # a weight mass below one is still a value: 1 * 0.2 / (0.2 + 0.2)
    e = estimate("snips", OPEArrays(reward=[1.0, 0.0], logged_p=[0.5, 0.5], target_p=[0.1, 0.1]))
    assert e.value == pytest.approx(0.5)


def test_one_event_has_a_value_but_no_standard_error_and_no_numpy_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e = estimate("ips", OPEArrays(reward=[1.0], logged_p=[0.5], target_p=[1.0]))
    assert e.value == 2.0 and e.interval == "asymptotic"
    assert math.isnan(e.stderr) and all(
        map(math.isnan, raw("ips", OPEArrays(reward=[1.0], logged_p=[0.5], target_p=[1.0])))
    )
    # no standard error: the interval is the Wilson one on one effective event, up to the estimate 2
    # itself (outside the reward range [0, 1], which a warning says)
    assert (e.low, e.high) == (pytest.approx(0.20654931), 2.0)
    assert "no events" not in " ".join(e.warnings)
    # two events are enough for a standard error: sd([1, -1]) / (sqrt(2) * 1)
    two = estimate("ips", OPEArrays(reward=[1.0, 0.0], logged_p=[1.0, 1.0], target_p=[1.0, 1.0]))
    assert two.stderr == pytest.approx(math.sqrt(2) / 2 / math.sqrt(2))


def test_arrays_are_coerced_to_float():
    data = OPEArrays(
        reward=[1, 0], logged_p=[1, 1], target_p=[True, False], dm=[1, 0], q_logged=[0, 1], zero_support=[0, 0]
    )
    assert data.reward.dtype == data.logged_p.dtype == data.target_p.dtype == np.float64
    assert data.dm.dtype == data.q_logged.dtype == data.zero_support.dtype == np.float64


def test_logged_probabilities_must_lie_in_zero_one():
    OPEArrays(reward=[1.0, 0.0], logged_p=[1.0, 1.0 + 1e-10], target_p=[1.0, 1.0])  # p = 1 is valid
    OPEArrays(reward=[1.0], logged_p=[1 + 1e-9], target_p=[1.0])  # float32 rounding of 1 is tolerated
    msg = re.escape("OPE arrays: logged probabilities must lie in (0, 1]") + "$"
    for bad in (1.0 + 1e-6, 1.5, 0.0, -0.1):
        with pytest.raises(SimulationError, match=msg):
            OPEArrays(reward=[1.0], logged_p=[bad], target_p=[1.0])


def test_missing_inputs_name_what_is_missing():
    with pytest.raises(
        SimulationError, match=re.escape("the replay estimator needs the target's sampled actions (matched)") + "$"
    ):
        estimate("replay", tiny_log(matched=None))
    with pytest.raises(SimulationError, match="^the dr estimator needs reward-model predictions$"):
        estimate("dr", tiny_log(q_logged=None))
    with pytest.raises(SimulationError, match="^the dr estimator needs reward-model predictions$"):
        estimate("dr", tiny_log(dm=None))
    with pytest.raises(SimulationError, match="^the dm estimator needs reward-model predictions$"):
        estimate("dm", tiny_log(dm=None))
    assert estimate("dm", tiny_log(q_logged=None)).value == pytest.approx(0.4)  # DM never needs q(x, a_i)
    with pytest.raises(
        SimulationError, match=re.escape("unknown estimator 'switch'; valid: replay, ips, snips, dm, dr") + "$"
    ):
        estimate("switch", tiny_log())


DM_WARNING = "DM's interval ignores the reward model's own error (bias); prefer DR or SNIPS"


def many(n: int, weight: float = 1.0, **kw) -> OPEArrays:
    """n events logged with p = 0.5 and target probability 0.5 * weight (every weight equal)."""
    return OPEArrays(reward=np.zeros(n), logged_p=np.full(n, 0.5), target_p=np.full(n, 0.5 * weight), **kw)


def test_dm_says_its_interval_ignores_model_error_and_skips_weight_warnings():
    # ess 10 of 10 events would be 'tiny overlap' for a weighted estimator; DM does not weight
    data = many(10, dm=np.zeros(10))
    assert core(estimate("dm", data).warnings) == [DM_WARNING]
    assert core(estimate("ips", data).warnings) == [
        "tiny overlap: effective sample size 10 of 10 events (100.0%); the target rarely takes the actions the logger took"
    ]


def test_tiny_overlap_threshold_is_30_effective_events():
    assert core(estimate("ips", many(30)).warnings) == []
    assert core(estimate("ips", many(29)).warnings) == [
        "tiny overlap: effective sample size 29 of 29 events (100.0%); the target rarely takes the actions the logger took"
    ]


def test_max_weight_warning_above_100_or_5_percent_of_events():
    assert core(estimate("ips", many(200, weight=100.0)).warnings) == []
    assert core(estimate("ips", many(200, weight=100.5)).warnings) == [
        "max importance weight 100: a single event dominates the estimate"  # 100.5 prints as 100
    ]
    assert core(estimate("ips", many(200, weight=150.0)).warnings) == [
        "max importance weight 150: a single event dominates the estimate"
    ]
    # 4000 events: the bar is 0.05 * 4000 = 200, so weight 150 is fine
    assert core(estimate("ips", many(4000, weight=150.0)).warnings) == []


def test_deterministic_logger_warning_from_half_the_events():
    p = [0.999, 0.5] * 20
    e = estimate("ips", OPEArrays(reward=np.zeros(40), logged_p=p, target_p=p))
    assert core(e.warnings) == [
        "logging policy looks deterministic (p >= 0.999 on 50% of events): actions it never took cannot be evaluated"
    ]


def test_zero_support_warning_above_one_percent():
    assert core(estimate("ips", many(40, zero_support=np.full(40, 0.01))).warnings) == []
    assert core(estimate("ips", many(40, zero_support=np.full(40, 0.02))).warnings) == [
        "2.0% of the target's probability is on actions the logger never chose with p > 0: "
        "IPS/SNIPS/DR/replay are biased there and DM extrapolates"
    ]


def matched_arrays(n: int, p: np.ndarray, k: int) -> OPEArrays:
    return OPEArrays(
        reward=np.ones(n), logged_p=p, target_p=np.ones(n), matched=np.ones(n, bool), n_candidates=np.full(n, k)
    )


def test_replay_needs_100_matches_and_a_uniform_log():
    assert core(estimate("replay", matched_arrays(100, np.full(100, 0.25), 4)).warnings) == []
    assert core(estimate("replay", matched_arrays(99, np.full(99, 0.25), 4)).warnings) == [
        "only 99 events matched the target's choices: the replay interval is wide"
    ]
    # one event in 100 logged at p = 0.5 among 4 candidates: exactly 1% off is tolerated, 2% is not
    p = np.full(100, 0.25)
    p[0] = 0.5
    assert core(estimate("replay", matched_arrays(100, p, 4)).warnings) == []
    p[1] = 0.5
    assert core(estimate("replay", matched_arrays(100, p, 4)).warnings) == [
        "replay assumes a uniformly random logger but 2% of events were not logged uniformly: use ips, snips or dr"
    ]
    # 1/3 among 3 is uniform although 3 * (1/3) is not exactly 1
    assert core(estimate("replay", matched_arrays(120, np.full(120, 1 / 3), 3)).warnings) == []


def test_bootstrap_seed_and_size_are_honoured():
    data = OPEArrays(
        reward=np.arange(50) % 2, logged_p=np.full(50, 0.5), target_p=np.full(50, 0.5), dm=np.linspace(0, 1, 50)
    )  # 25 successes and 25 failures: the bootstrap as it is
    a = estimate("dm", data, bootstrap=200)
    b = estimate("dm", data, bootstrap=200, seed=0)
    c = estimate("dm", data, bootstrap=200, seed=1)
    assert (a.low, a.high) == (b.low, b.high) and (a.low, a.high) != (c.low, c.high)
    num, den = np.linspace(0, 1, 50), np.ones(50)
    assert ratio_interval(num, den, bootstrap=200)[1:3] == ratio_interval(num, den, bootstrap=200, seed=0)[1:3]
    assert ratio_interval(num, den, bootstrap=1)[4] == "bootstrap"


def test_bootstrap_stderr_is_the_spread_of_the_replicates():
    # with two replicates a <= b: low = a + 0.025 (b - a), high = a + 0.975 (b - a), sd(ddof=1) = (b - a) / sqrt 2
    num, den = np.array([1.0, 0.0, 0.0, 1.0, 1.0]), np.ones(5)
    value, low, high, se, method = ratio_interval(num, den, bootstrap=2, seed=0)
    assert method == "bootstrap" and high > low
    assert se == pytest.approx((high - low) / 0.95 / math.sqrt(2), rel=1e-9)
    # one replicate has no spread: the standard error falls back to the delta method's, without warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one = ratio_interval(num, den, bootstrap=1, seed=0)
    assert one[3] == pytest.approx(ratio_interval(num, den)[3], rel=1e-12)


def test_bootstrap_resamples_every_event():
    # only the first event carries weight: a resampler that skipped index 0 would give an all-zero interval
    num, den = np.array([10.0, 0, 0, 0, 0]), np.ones(5)
    _, low, high, _, _ = ratio_interval(num, den, bootstrap=200, seed=0)
    assert low == 0.0 and high > 2.0


def test_bootstrap_drops_resamples_without_weight_mass():
    # SNIPS-like terms: only the first event has weight. Resamples that miss it have den = 0 and no value;
    # dropping them (not dividing by zero) leaves every kept replicate at exactly num[0] / den[0] = 1
    num, den = np.array([0.3, 0, 0, 0, 0, 0]), np.array([0.3, 0, 0, 0, 0, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, low, high, se, _ = ratio_interval(num, den, bootstrap=300, seed=2)
    assert (low, high, se) == (1.0, 1.0, 0.0)


def test_bootstrap_keeps_resamples_whose_weight_mass_is_below_one():
    # SNIPS with weights 0.3: every resample of two events has mass 0.6 and a value in {0, 0.5, 1}
    num, den = np.array([0.3, 0.0]), np.array([0.3, 0.3])
    _, low, high, _, _ = ratio_interval(num, den, bootstrap=400, seed=0)
    assert (low, high) == (0.0, 1.0)


def test_bootstrap_with_no_usable_resample_has_no_interval():
    # seed 4's single resample of 6 events misses event 0, the only one with weight: no replicate at all
    num, den = np.array([0.3, 0, 0, 0, 0, 0]), np.array([0.3, 0, 0, 0, 0, 0])
    value, low, high, se, method = ratio_interval(num, den, bootstrap=1, seed=4)
    assert value == 1.0 and method == "bootstrap" and math.isnan(low) and math.isnan(high)
    assert se == ratio_interval(num, den)[3]  # the delta method's


def test_bootstrap_percentiles_match_the_confidence():
    # 95% percentile bootstrap of a mean of 4000 coin flips: width 2 * 1.96 * sqrt(0.25 / 4000) = 0.031
    rng = np.random.default_rng(11)
    num, den = (rng.random(4000) < 0.5).astype(float), np.ones(4000)
    _, low, high, se, _ = ratio_interval(num, den, bootstrap=3000, seed=4)
    p = num.mean()
    width = 2 * Z95 * math.sqrt(p * (1 - p) / 4000)
    assert high - low == pytest.approx(width, rel=0.07)
    assert se == pytest.approx(math.sqrt(p * (1 - p) / 4000), rel=0.07)


def test_learning_curve_values_by_hand():
    # IPS running means of [2, 0, 0.5, 0]: 2/1, 2/2, 2.5/3, 2.5/4
    assert cumulative_curve("ips", tiny_log(), points=4) == ([1, 2, 3, 4], [2.0, 1.0, pytest.approx(2.5 / 3), 0.625])
    # two checkpoints start after n // points = 2 events
    assert cumulative_curve("ips", tiny_log(), points=2) == ([2, 4], [1.0, 0.625])
    ks, _ = cumulative_curve("dm", many(10, dm=np.zeros(10)), points=4)
    assert ks == [2, 4, 7, 10]  # linspace(10 // 4 = 2, 10, 4) truncated
    assert cumulative_curve("ips", OPEArrays(reward=[1.0], logged_p=[0.5], target_p=[1.0])) == ([1], [2.0])
    ks, _ = cumulative_curve("dm", many(1000, dm=np.zeros(1000)))  # 100 checkpoints by default
    assert len(ks) == 100 and ks[:2] == [10, 20] and ks[-1] == 1000


def test_learning_curve_has_no_value_before_any_weight_mass():
    # SNIPS: weights [0, 0, 0.5, 0.5]; no value until mass arrives, then 0.5 / 0.5 = 1 and 1 / 1 = 1
    data = OPEArrays(reward=[1.0, 1.0, 1.0, 1.0], logged_p=[0.5] * 4, target_p=[0, 0, 0.25, 0.25])
    assert cumulative_curve("snips", data, points=4) == ([1, 2, 3, 4], [None, None, 1.0, 1.0])
    data = OPEArrays(reward=[1.0, 0.0], logged_p=[0.5, 0.5], target_p=[0.2, 0.2])
    assert cumulative_curve("snips", data, points=2) == ([1, 2], [1.0, 0.5])


Z = 1.959963984540054  # Phi^-1(0.975)


def wilson_by_hand(p: float, n: float) -> tuple[float, float]:
    # Wilson (1927): (p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)
    d = 1 + Z * Z / n
    c = (p + Z * Z / (2 * n)) / d
    h = Z / d * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return c - h, c + h


def test_no_click_on_122_events_is_not_a_zero_width_interval():
    # the 'SNIPS 0.0000 [0.0000, 0.0000]' (ESS 122): now [0, z^2 / (122 + z^2)] = [0, 0.030526]
    data = OPEArrays(reward=np.zeros(122), logged_p=np.full(122, 0.5), target_p=np.full(122, 0.5))
    for name in ("ips", "snips"):
        e = estimate(name, data)
        assert e.value == 0.0
        assert (e.low, e.high) == (0.0, pytest.approx(Z * Z / (122 + Z * Z), rel=1e-12))
        assert e.high == pytest.approx(0.0305262, abs=1e-7)
        assert any("only 0 of the events used (122) had a reward above 0:" in w for w in e.warnings)


def test_replay_with_no_click_among_104_matches_uses_the_matched_count():
    # 'vw replay 0.0000 [0.0000, 0.0000] on 104 matched events' -> [0, z^2 / (104 + z^2)]
    matched = np.zeros(416, dtype=bool)
    matched[::4] = True
    reward = np.zeros(416)
    reward[1:120:4] = 1.0  # 30 clicks, only on events the target did not match: not its successes
    data = OPEArrays(reward=reward, logged_p=np.full(416, 0.25), target_p=np.full(416, 0.25), matched=matched)
    e = estimate("replay", data)
    assert e.value == 0.0 and e.diagnostics.events_used == 104
    assert (e.low, e.high) == (0.0, pytest.approx(Z * Z / (104 + Z * Z), rel=1e-12))


def best_fixed_like() -> OPEArrays:
    # 200 events logged uniformly over 4 items (p = 1/4); the target takes the logged item on 50 of
    # them (w = 4) and 3 of those were clicked: IPS = 3 * 4 / 200 = 0.06
    target = np.zeros(200)
    target[::4] = 1.0
    reward = np.zeros(200)
    reward[[0, 4, 8]] = 1.0
    return OPEArrays(reward=reward, logged_p=np.full(200, 0.25), target_p=target)


def test_best_fixed_click_rate_interval_never_negative_and_wilson_on_the_ess():
    e = estimate("ips", best_fixed_like())
    assert e.value == pytest.approx(0.06)
    # delta method: terms w*r = three 4s and 197 zeros, sd = sqrt((3 (4 - .06)^2 + 197 .06^2) / 199)
    se = math.sqrt((3 * (4 - 0.06) ** 2 + 197 * 0.06**2) / 199) / math.sqrt(200)
    assert e.stderr == pytest.approx(se, rel=1e-12)
    assert 0.06 - Z * se < 0  # what the delta method alone would print: a negative click rate
    # 3 successes < 10: hull with Wilson(0.06, ESS = 200^2 / (50 * 16) = 50), clipped to [0, 1]
    w_lo, w_hi = wilson_by_hand(0.06, 50)
    assert (w_lo, w_hi) == (pytest.approx(0.0206150, abs=1e-6), pytest.approx(0.1621709, abs=1e-6))
    assert e.low == pytest.approx(max(0.0, min(0.06 - Z * se, w_lo)), rel=1e-12)
    assert e.low == 0.0
    assert e.high == pytest.approx(max(0.06 + Z * se, w_hi), rel=1e-12)
    # the streaming estimator (replay's) gives the same, in batches
    stream = PolicyStream(["ips"])
    data = best_fixed_like()
    for a in range(0, 200, 64):
        stream.add(
            OPEArrays(
                reward=data.reward[a : a + 64], logged_p=data.logged_p[a : a + 64], target_p=data.target_p[a : a + 64]
            )
        )
    s = stream.estimate("ips", 0.95, 0)
    assert (s.value, s.low, s.high, s.warnings) == (pytest.approx(e.value), e.low, pytest.approx(e.high), e.warnings)


def test_enough_successes_and_failures_keep_the_delta_interval():
    # 400 events, w = 1, 100 clicks: value 0.25, se = sd / sqrt(400), sd = sqrt(400 * .25 * .75 / 399)
    reward = np.zeros(400)
    reward[:100] = 1.0
    e = estimate("snips", OPEArrays(reward=reward, logged_p=np.full(400, 0.5), target_p=np.full(400, 0.5)))
    se = math.sqrt(400 * 0.25 * 0.75 / 399) / 20
    assert (e.low, e.high) == (pytest.approx(0.25 - Z * se, rel=1e-12), pytest.approx(0.25 + Z * se, rel=1e-12))
    assert not any("Wilson" in w for w in e.warnings)


def test_all_clicks_is_bounded_above_by_one_and_rewards_outside_0_1_use_their_own_range():
    e = estimate("ips", OPEArrays(reward=np.ones(50), logged_p=np.full(50, 0.5), target_p=np.full(50, 0.5)))
    assert (e.value, e.high) == (1.0, 1.0)
    assert e.low == pytest.approx(1 - Z * Z / (50 + Z * Z), rel=1e-12)  # Wilson at p = 1 on 50 events
    # rewards 2 and 5 (20 of each): the range is [2, 5]; a weight of 3 on the 5s pushes IPS above 5
    reward = np.array([2.0, 5.0] * 20)
    target = np.where(reward == 5.0, 1.0, 0.0)
    e = estimate("ips", OPEArrays(reward=reward, logged_p=np.full(40, 1 / 3), target_p=target))
    assert e.value == pytest.approx(7.5)
    # the true value is at most 5; the interval stops at the estimate itself, which is flagged
    assert e.high == pytest.approx(7.5) and e.low >= 2.0
    assert any("the estimate 7.5 lies outside the reward range [2, 5]" in w for w in e.warnings)


def test_a_negative_dr_estimate_keeps_an_interval_that_contains_it():
    # no clicks, and a reward model that predicts more for the logged items than for the target's:
    # DR = mean(dm + w (r - q)) = 0.001 - 1 * 0.01 = -0.009 on every event
    n = 200
    data = OPEArrays(
        reward=np.zeros(n),
        logged_p=np.full(n, 0.5),
        target_p=np.full(n, 0.5),
        dm=np.full(n, 0.001),
        q_logged=np.full(n, 0.01),
    )
    e = estimate("dr", data)
    assert e.value == pytest.approx(-0.009)
    assert e.low == pytest.approx(-0.009) and e.high == pytest.approx(Z * Z / (n + Z * Z))  # Wilson at 0
    assert any("outside the reward range [0, 1]" in w for w in e.warnings)


@pytest.mark.parametrize("n", [2, 3, 10, 50, 120, 299])
def test_no_zero_width_interval_without_successes(n):
    data = OPEArrays(
        reward=np.zeros(n),
        logged_p=np.full(n, 0.5),
        target_p=np.full(n, 0.5),
        matched=np.ones(n, dtype=bool),
        dm=np.full(n, 1e-4),
        q_logged=np.full(n, 1e-4),
    )
    for name in ("ips", "snips", "dr", "dm", "replay"):
        e = estimate(name, data)
        assert e.high - e.low >= Z * Z / (n + Z * Z) * 0.99, (name, n, e.low, e.high)
        assert e.low >= 0.0


def test_replay_run_on_a_click_log_reports_best_fixed_within_0_1(tmp_path):
    rng = np.random.default_rng(3)
    rows = ["action,reward,propensity"]
    for _ in range(3000):
        a = int(rng.integers(40))
        rows.append(f"a{a},{int(rng.random() < 0.004 + 0.0005 * a)},0.025")
    path = tmp_path / "log.csv"
    path.write_text("\n".join(rows) + "\n")
    result = replay_log(path, ["logged", "best-fixed"], ["ips", "snips"])
    for policy in result["policies"]:
        for est in policy["estimates"].values():
            assert 0.0 <= est["low"] <= est["value"] <= est["high"] <= 1.0
            assert est["high"] - est["low"] > 0.0
