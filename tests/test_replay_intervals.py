"""Intervals honest at the edges (issue 33): never wider than the reward range, never of zero width
from a few hundred events without a success, and Wilson-type when successes or failures are few.
Every expected number is worked out from the formulas in the comments, not by the code under test."""
from __future__ import annotations

import math

import numpy as np
import pytest

from simulations.ope import replay_log
from simulations.ope.estimators import OPEArrays, estimate
from simulations.ope.streaming import PolicyStream

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
    se = math.sqrt((3 * (4 - 0.06) ** 2 + 197 * 0.06 ** 2) / 199) / math.sqrt(200)
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
        stream.add(OPEArrays(reward=data.reward[a:a + 64], logged_p=data.logged_p[a:a + 64],
                             target_p=data.target_p[a:a + 64]))
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
    data = OPEArrays(reward=np.zeros(n), logged_p=np.full(n, 0.5), target_p=np.full(n, 0.5),
                     dm=np.full(n, 0.001), q_logged=np.full(n, 0.01))
    e = estimate("dr", data)
    assert e.value == pytest.approx(-0.009)
    assert e.low == pytest.approx(-0.009) and e.high == pytest.approx(Z * Z / (n + Z * Z))  # Wilson at 0
    assert any("outside the reward range [0, 1]" in w for w in e.warnings)


@pytest.mark.parametrize("n", [2, 3, 10, 50, 120, 299])
def test_no_zero_width_interval_without_successes(n):
    data = OPEArrays(reward=np.zeros(n), logged_p=np.full(n, 0.5), target_p=np.full(n, 0.5),
                     matched=np.ones(n, dtype=bool), dm=np.full(n, 1e-4), q_logged=np.full(n, 1e-4))
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
