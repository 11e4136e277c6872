"""Estimator values and intervals computed by hand on a four-event log, and the variance properties
that tell the estimators apart (a SNIPS computed as IPS, or a DR that ignores its reward model, fails here)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from simulations.ope.estimators import OPEArrays, estimate, ratio_interval, terms

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
    return OPEArrays(reward=REWARD, logged_p=LOGGED_P, target_p=TARGET_P, dm=DM, q_logged=Q_LOGGED,
                     matched=np.array(MATCHED))


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
    # test_replay_intervals.py computes that one by hand)
    low, high = ratio_interval(*terms(name, tiny()))[1:3]
    assert (low, high) == (pytest.approx(value - Z95 * se, abs=1e-12), pytest.approx(value + Z95 * se, abs=1e-12))
    low90, high90 = ratio_interval(*terms(name, tiny()), confidence=0.90)[1:3]
    assert high90 - low90 == pytest.approx(2 * 1.6448536269514722 * se, abs=1e-12)


def test_diagnostics_by_hand():
    d = estimate("ips", tiny()).diagnostics
    assert d.events == d.events_used == 4
    assert d.ess == pytest.approx(4.5 ** 2 / (4 + 4 + 0 + 0.25))  # (sum w)^2 / sum w^2
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
    return OPEArrays(reward=reward, logged_p=LOGGER[seg, act], target_p=TARGET[seg, act],
                     dm=np.sum(TARGET[seg] * CLICK[seg], axis=1), q_logged=CLICK[seg, act])


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
