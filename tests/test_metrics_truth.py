"""The simulator's ground truth: the oracle, best-fixed and uniform references and a policy's share,
lift and regret, computed by hand on a four-impression world, and their ordering on real worlds.

If the oracle were the mean of the arms, or best fixed were chosen per impression, or a share were
divided by the wrong total, these numbers change: every value below was worked out on paper.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from simulations.world.titleset import TitleSet, Title, Variant
from simulations.world.environment import Environment, Stream
from simulations.online.metrics import Trace, baselines, policy_metrics, reference_metrics
from simulations.world.scenarios import PRESETS, Scenario


def _hand_world():
    """Two titles; title A shows 3 variants twice and 2 variants once (a late third), title B 2.

    t  title k segment  click_p            play_p
    0  A     3 s0       .10 .50 .20        .05 .10 .20
    1  A     3 s1       .40 .10 .30        .20 .05 .30
    2  A     2 s0       .30 .20  -         .10 .15  -
    3  B     2 s1       .05 .15  -         .05 .01  -
    """
    click = np.array([[.10, .50, .20], [.40, .10, .30], [.30, .20, 0], [.05, .15, 0]])
    play = np.array([[.05, .10, .20], [.20, .05, .30], [.10, .15, 0], [.05, .01, 0]])
    n = 4
    stream = Stream(n=n, user=np.arange(n), title=np.array([0, 0, 0, 1]), segment=np.array([0, 1, 0, 1]),
                    tod=np.zeros(n, np.int64), k=np.array([3, 3, 2, 2]), click_p=click, play_p=play,
                    u_click=np.full(n, .5), u_play=np.full(n, .5), time_s=np.arange(n, dtype=float))
    feats = {"brightness": 0.5}
    titles = [Title("A", "drama", [Variant(f"A/{j}", feats) for j in range(3)]),
              Title("B", "comedy", [Variant(f"B/{j}", feats) for j in range(2)])]
    env = SimpleNamespace(titleset=TitleSet(titles, ("brightness",)), segment_names=["s0", "s1"],
                          scenario=Scenario())
    return env, stream


def test_references_by_hand():
    env, stream = _hand_world()
    # oracle = the best available variant of each impression: .50 + .40 + .30 + .15
    # best fixed = one variant per (title, available set): A/3 -> column sums .5 .6 .5 -> v1 (.50, .10);
    #   A/2 -> v0 (.30); B/2 -> v1 (.15)
    # uniform = mean over the available variants: .8/3 + .8/3 + .5/2 + .2/2
    refs = reference_metrics(env, stream, "click")
    assert refs["oracle"]["expected_ctr"] == pytest.approx(1.35 / 4)
    assert refs["best_fixed"]["expected_ctr"] == pytest.approx(1.05 / 4)
    assert refs["uniform_expected"]["expected_ctr"] == pytest.approx((1.6 / 3 + .25 + .10) / 4)
    # the same choices, valued in quality plays: oracle (click) picks v1, v0, v0, v1 -> .10 .20 .10 .01
    assert refs["oracle"]["expected_play_rate"] == pytest.approx(.41 / 4)
    # per segment: s0 = impressions 0 and 2, s1 = 1 and 3
    seg = refs["segments"]
    assert seg["s0"]["oracle"]["expected_ctr"] == pytest.approx(.80 / 2)
    assert seg["s1"]["oracle"]["expected_ctr"] == pytest.approx(.55 / 2)
    assert seg["s0"]["best_fixed"]["expected_ctr"] == pytest.approx(.80 / 2)
    assert seg["s1"]["best_fixed"]["expected_ctr"] == pytest.approx(.25 / 2)
    # with quality plays as the reward the oracle picks v2, v2, v1, v0: .20 + .30 + .15 + .05
    qp = reference_metrics(env, stream, "quality_play")
    assert qp["oracle"]["expected_play_rate"] == pytest.approx(.70 / 4)
    # and best fixed per group on plays: A/3 sums .25 .15 .50 -> v2; A/2 -> v1 (.15); B/2 -> v0 (.05)
    assert qp["best_fixed"]["expected_play_rate"] == pytest.approx((.20 + .30 + .15 + .05) / 4)
    np.testing.assert_array_equal(baselines(stream, "click")["oracle"], [1, 0, 0, 1])
    np.testing.assert_array_equal(baselines(stream, "click")["best_fixed"], [1, 1, 0, 1])


def test_policy_share_lift_and_regret_by_hand():
    env, stream = _hand_world()
    chosen = np.array([2, 1, 1, 0])  # values .20 .10 .20 .05 = .55
    trace = Trace(chosen, np.zeros(4, bool), np.array([1, 0, 0, 0], bool), np.zeros(4, bool))
    m = policy_metrics(env, stream, trace, "click", floor=0.01)
    assert m["expected_ctr"] == pytest.approx(.55 / 4)
    assert m["ctr"] == pytest.approx(1 / 4)  # realised
    assert m["cumulative_regret"] == pytest.approx(1.35 - .55)
    assert m["share_of_oracle"] == pytest.approx(.55 / 1.35)
    assert m["lift_over_best_fixed"] == pytest.approx(.55 / 1.05 - 1)
    s0, s1 = m["segments"]["s0"], m["segments"]["s1"]
    assert (s0["share_of_oracle"], s1["share_of_oracle"]) == pytest.approx((.40 / .80, .15 / .55))
    assert (s0["lift_over_best_fixed"], s1["lift_over_best_fixed"]) == pytest.approx((.40 / .80 - 1, .15 / .25 - 1))
    # the oracle's own choices are worth exactly the oracle
    none = np.zeros(4, bool)
    best = policy_metrics(env, stream, Trace(np.array([1, 0, 0, 1]), none, none, none), "click", floor=0.01)
    assert best["share_of_oracle"] == pytest.approx(1.0) and best["cumulative_regret"] == pytest.approx(0.0)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_oracle_ge_best_fixed_ge_uniform_on_every_preset(preset):
    for seed in (0, 1):
        env = Environment(PRESETS[preset], seed=seed)
        stream = env.generate(3_000)
        for reward in ("click", "quality_play"):
            refs = reference_metrics(env, stream, reward)
            key = "expected_ctr" if reward == "click" else "expected_play_rate"
            o, b, u = (refs[n][key] for n in ("oracle", "best_fixed", "uniform_expected"))
            assert o >= b >= u > 0, (preset, seed, reward, o, b, u)
            assert o > u  # tastes differ: the best variant for each viewer beats a random one
            for name, seg in refs["segments"].items():
                assert seg["oracle"][key] >= max(seg["best_fixed"][key], seg["uniform_expected"][key]), name
            # no choice of variants can beat the oracle: a random policy's share is <= 1
            rng = np.random.default_rng(seed)
            chosen = (rng.random(stream.n) * stream.k).astype(np.int64)
            none = np.zeros(stream.n, bool)
            m = policy_metrics(env, stream, Trace(chosen, none, none, none), reward, floor=0.01)
            assert 0 < m["share_of_oracle"] <= 1.0
            assert all(s["share_of_oracle"] <= 1.0 + 1e-12 for s in m["segments"].values())
