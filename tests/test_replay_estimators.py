"""Statistical tests of the estimators on logs drawn from a small known world (exact truth)."""
from __future__ import annotations

import numpy as np
import pytest

from simulations.errors import SimulationError
from simulations.ope.estimators import OPEArrays, cumulative_curve, estimate
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
        reward=log["reward"], logged_p=log["propensity"], target_p=pi[seg, act], matched=sampled == act,
        zero_support=np.sum(pi[seg] * (log["pmf"] <= 0), axis=1), n_candidates=np.full(len(seg), world.k), **kw,
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
