"""The simulator's ground truth: the oracle, best-fixed and uniform references and a policy's share,
lift and regret, computed by hand on a four-impression world, and their ordering on real worlds.

If the oracle were the mean of the arms, or best fixed were chosen per impression, or a share were
divided by the wrong total, these numbers change: every value below was worked out on paper.

Every number policy_metrics reports against the oracle, on a 20-impression world worked out by hand.

Written against the mutants mutmut left alive in simulations/online/metrics.py (docs/testing.md): renamed keys
of metrics.json, the final window's size, segments missing from the stream and the zero-oracle guards.

No segment left behind: each segment's share of its own oracle next to what one artwork for
everyone (best fixed) gives it, in metrics.json, the simulate/demo report and the demo's headline;
and, on the project's scenarios at 100,000 impressions, the default leaves no segment behind.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from artbandit.demo import headline_text
from bandit import make_policy
from simulations.online.metrics import Trace, baselines, policy_metrics, reference_metrics
from simulations.online.runner import run_policy
from simulations.reports.simulation import segment_table
from simulations.world.environment import Environment, Stream
from simulations.world.scenarios import PRESETS, Scenario, load_scenario
from simulations.world.titleset import Title, TitleSet, Variant


def _hand_world():
    """Two titles; title A shows 3 variants twice and 2 variants once (a late third), title B 2.

    t  title k segment  click_p            play_p
    0  A     3 s0       .10 .50 .20        .05 .10 .20
    1  A     3 s1       .40 .10 .30        .20 .05 .30
    2  A     2 s0       .30 .20  -         .10 .15  -
    3  B     2 s1       .05 .15  -         .05 .01  -
    """
    click = np.array([[0.10, 0.50, 0.20], [0.40, 0.10, 0.30], [0.30, 0.20, 0], [0.05, 0.15, 0]])
    play = np.array([[0.05, 0.10, 0.20], [0.20, 0.05, 0.30], [0.10, 0.15, 0], [0.05, 0.01, 0]])
    n = 4
    stream = Stream(
        n=n,
        user=np.arange(n),
        title=np.array([0, 0, 0, 1]),
        segment=np.array([0, 1, 0, 1]),
        tod=np.zeros(n, np.int64),
        k=np.array([3, 3, 2, 2]),
        click_p=click,
        play_p=play,
        u_click=np.full(n, 0.5),
        u_play=np.full(n, 0.5),
        time_s=np.arange(n, dtype=float),
    )
    feats = {"brightness": 0.5}
    titles = [
        Title("A", "drama", [Variant(f"A/{j}", feats) for j in range(3)]),
        Title("B", "comedy", [Variant(f"B/{j}", feats) for j in range(2)]),
    ]
    env = SimpleNamespace(titleset=TitleSet(titles, ("brightness",)), segment_names=["s0", "s1"], scenario=Scenario())
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
    assert refs["uniform_expected"]["expected_ctr"] == pytest.approx((1.6 / 3 + 0.25 + 0.10) / 4)
    # the same choices, valued in quality plays: oracle (click) picks v1, v0, v0, v1 -> .10 .20 .10 .01
    assert refs["oracle"]["expected_play_rate"] == pytest.approx(0.41 / 4)
    # per segment: s0 = impressions 0 and 2, s1 = 1 and 3
    seg = refs["segments"]
    assert seg["s0"]["oracle"]["expected_ctr"] == pytest.approx(0.80 / 2)
    assert seg["s1"]["oracle"]["expected_ctr"] == pytest.approx(0.55 / 2)
    assert seg["s0"]["best_fixed"]["expected_ctr"] == pytest.approx(0.80 / 2)
    assert seg["s1"]["best_fixed"]["expected_ctr"] == pytest.approx(0.25 / 2)
    # with quality plays as the reward the oracle picks v2, v2, v1, v0: .20 + .30 + .15 + .05
    qp = reference_metrics(env, stream, "quality_play")
    assert qp["oracle"]["expected_play_rate"] == pytest.approx(0.70 / 4)
    # and best fixed per group on plays: A/3 sums .25 .15 .50 -> v2; A/2 -> v1 (.15); B/2 -> v0 (.05)
    assert qp["best_fixed"]["expected_play_rate"] == pytest.approx((0.20 + 0.30 + 0.15 + 0.05) / 4)
    np.testing.assert_array_equal(baselines(stream, "click")["oracle"], [1, 0, 0, 1])
    np.testing.assert_array_equal(baselines(stream, "click")["best_fixed"], [1, 1, 0, 1])


def test_policy_share_lift_and_regret_by_hand():
    env, stream = _hand_world()
    chosen = np.array([2, 1, 1, 0])  # values .20 .10 .20 .05 = .55
    trace = Trace(chosen, np.zeros(4, bool), np.array([1, 0, 0, 0], bool), np.zeros(4, bool))
    m = policy_metrics(env, stream, trace, "click", floor=0.01)
    assert m["expected_ctr"] == pytest.approx(0.55 / 4)
    assert m["ctr"] == pytest.approx(1 / 4)  # realised
    assert m["cumulative_regret"] == pytest.approx(1.35 - 0.55)
    assert m["share_of_oracle"] == pytest.approx(0.55 / 1.35)
    assert m["lift_over_best_fixed"] == pytest.approx(0.55 / 1.05 - 1)
    s0, s1 = m["segments"]["s0"], m["segments"]["s1"]
    assert (s0["share_of_oracle"], s1["share_of_oracle"]) == pytest.approx((0.40 / 0.80, 0.15 / 0.55))
    assert (s0["lift_over_best_fixed"], s1["lift_over_best_fixed"]) == pytest.approx((0.40 / 0.80 - 1, 0.15 / 0.25 - 1))
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


def world(n: int = 20, zero: bool = False):
    """One title, two variants; segment s0 on even impressions, s2 on odd ones, s1 never seen.

    t even: click .10 .30  play .05 .12        t odd: click .45 .20  play .20 .15
    click: oracle = v1 on even (.30), v0 on odd (.45): 7.5 over 20; best fixed = v0 (5.5 vs 5.0)
    play:  oracle = v1 on even (.12), v0 on odd (.20): 3.2 over 20; best fixed = v1 (2.7 vs 2.5)
    """
    even = np.arange(n) % 2 == 0
    click = np.where(even[:, None], [[0.10, 0.30]], [[0.45, 0.20]]) * (0 if zero else 1)
    play = np.where(even[:, None], [[0.05, 0.12]], [[0.20, 0.15]]) * (0 if zero else 1)
    stream = Stream(
        n=n,
        user=np.arange(n),
        title=np.zeros(n, np.int64),
        segment=np.where(even, 0, 2),
        tod=np.zeros(n, np.int64),
        k=np.full(n, 2),
        click_p=click,
        play_p=play,
        u_click=np.full(n, 0.5),
        u_play=np.full(n, 0.5),
        time_s=np.arange(n, dtype=float),
    )
    titles = [Title("A", "drama", [Variant("A/0", {"brightness": 0.2}), Variant("A/1", {"brightness": 0.8})])]
    env = SimpleNamespace(
        titleset=TitleSet(titles, ("brightness",)), segment_names=["s0", "s1", "s2"], scenario=Scenario()
    )
    return env, stream


def trace(n: int = 20) -> Trace:
    """v1 everywhere except the last impression (v0): the last two impressions are the oracle's choices."""
    chosen = np.ones(n, np.int64)
    chosen[-1] = 0
    t = np.arange(n)
    return Trace(chosen, np.zeros(n, bool), t % 5 == 0, t == 5, late_rewards=3)


OVERALL_KEYS = {
    "impressions",
    "clicks",
    "quality_plays",
    "ctr",
    "quality_play_rate",
    "expected_ctr",
    "expected_play_rate",
    "cumulative_regret",
    "share_of_oracle",
    "share_of_oracle_ctr",
    "lift_over_best_fixed",
    "lift_over_best_fixed_ctr",
    "final_window",
    "late_rewards",
    "segments",
    "exposure",
    "timeseries",
    "recovery",
}


def test_click_metrics_by_hand():
    env, stream = world()
    m = policy_metrics(env, stream, trace(), "click", floor=0.01)
    assert set(m) == OVERALL_KEYS
    # mine, clicks: even .30 x 10, odd .20 x 9 + .45 = 5.25; plays: .12 x 10 + .15 x 9 + .20 = 2.75
    expected = {
        "impressions": 20,
        "clicks": 4,
        "quality_plays": 1,
        "ctr": 0.2,
        "quality_play_rate": 0.05,
        "expected_ctr": 5.25 / 20,
        "expected_play_rate": 2.75 / 20,
        "cumulative_regret": 7.5 - 5.25,
        "share_of_oracle": 5.25 / 7.5,
        "share_of_oracle_ctr": 5.25 / 7.5,
        "lift_over_best_fixed": 5.25 / 5.5 - 1,
        "lift_over_best_fixed_ctr": 5.25 / 5.5 - 1,
        "late_rewards": 3,
    }
    assert {k: m[k] for k in expected} == pytest.approx(expected)
    # the sub-reports are there (their own numbers are the reports' tests' business)
    assert m["exposure"]["floor"] == 0.01 and m["exposure"]["explored_share"] == 0.0
    assert m["timeseries"]["t"][-1] == 20 and m["timeseries"]["cumulative_regret"][-1] == pytest.approx(2.25)
    assert m["recovery"] == {}  # no drift, no late titles in this world
    # the last 20 // 10 = 2 impressions: mine = oracle = .30 + .45; best fixed (v0) .10 + .45
    assert m["final_window"] == pytest.approx(
        {
            "impressions": 2,
            "expected_ctr": 0.75 / 2,
            "expected_play_rate": (0.12 + 0.20) / 2,
            "share_of_oracle": 1.0,
            "share_of_oracle_ctr": 1.0,
            "lift_over_best_fixed": 0.75 / 0.55 - 1,
        }
    )
    # s1 never appears; s0 = even impressions (clicks at 0, 10), s2 = odd (clicks at 5, 15, the play at 5)
    segments = {
        "s0": {
            "impressions": 10,
            "ctr": 0.2,
            "expected_ctr": 0.3,
            "quality_play_rate": 0.0,
            "expected_play_rate": 0.12,
            "share_of_oracle": 1.0,
            "lift_over_best_fixed": 3.0 / 1.0 - 1,
            # best fixed (v0) gives s0 .10 where its oracle has .30; the final window holds t = 18
            "best_fixed_share_of_oracle": 1.0 / 3.0,
            "final_impressions": 1,
            "final_share_of_oracle": 1.0,
            "final_best_fixed_share_of_oracle": 1.0 / 3.0,
        },
        "s2": {
            "impressions": 10,
            "ctr": 0.2,
            "expected_ctr": 2.25 / 10,
            "quality_play_rate": 0.1,
            "expected_play_rate": 1.55 / 10,
            "share_of_oracle": 2.25 / 4.5,
            "lift_over_best_fixed": 2.25 / 4.5 - 1,
            # v0 is s2's oracle, so one artwork for everyone is perfect for it; t = 19 shows v0
            "best_fixed_share_of_oracle": 1.0,
            "final_impressions": 1,
            "final_share_of_oracle": 1.0,
            "final_best_fixed_share_of_oracle": 1.0,
        },
    }
    assert set(m["segments"]) == set(segments)
    for name, want in segments.items():
        assert m["segments"][name] == pytest.approx(want), name


def test_quality_play_metrics_measure_against_the_play_oracle():
    env, stream = world()
    m = policy_metrics(env, stream, trace(), "quality_play", floor=0.01)
    assert m["cumulative_regret"] == pytest.approx(3.2 - 2.75)
    assert m["share_of_oracle"] == pytest.approx(2.75 / 3.2)
    # the play oracle's choices are the click oracle's here, worth 7.5 clicks
    assert m["share_of_oracle_ctr"] == pytest.approx(5.25 / 7.5)
    assert m["lift_over_best_fixed"] == pytest.approx(2.75 / 2.7 - 1)
    # best fixed for plays is v1, worth 3.0 + 2.0 clicks
    assert m["lift_over_best_fixed_ctr"] == pytest.approx(5.25 / 5.0 - 1)
    assert m["final_window"]["share_of_oracle"] == pytest.approx(1.0)
    assert m["final_window"]["lift_over_best_fixed"] == pytest.approx(0.32 / 0.27 - 1)


def test_the_final_window_is_a_tenth_of_the_run_and_at_least_one_impression():
    env, stream = world(n=10)
    m = policy_metrics(env, stream, trace(10), "click", floor=0.01)
    # the last impression only (odd, v0 = the oracle's .45; best fixed v0 too)
    assert m["final_window"]["impressions"] == 1
    assert m["final_window"]["expected_ctr"] == pytest.approx(0.45)
    assert m["final_window"]["lift_over_best_fixed"] == pytest.approx(0.0)
    env, stream = world(n=8)
    assert policy_metrics(env, stream, trace(8), "click", floor=0.01)["final_window"]["impressions"] == 1


def test_a_world_without_any_click_reports_zero_shares_not_nan():
    env, stream = world(zero=True)
    with np.errstate(all="raise"):
        m = policy_metrics(env, stream, trace(), "click", floor=0.01)
    assert (m["share_of_oracle"], m["lift_over_best_fixed"], m["share_of_oracle_ctr"]) == (0.0, 0.0, 0.0)
    assert (m["final_window"]["share_of_oracle"], m["final_window"]["lift_over_best_fixed"]) == (0.0, 0.0)
    assert m["segments"]["s0"]["share_of_oracle"] == 0.0 and m["cumulative_regret"] == 0.0


def test_reference_metrics_skip_segments_without_impressions():
    env, stream = world()
    refs = reference_metrics(env, stream, "click")
    assert set(refs["segments"]) == {"s0", "s2"}
    assert refs["oracle"]["expected_ctr"] == pytest.approx(7.5 / 20)
    assert refs["best_fixed"]["expected_ctr"] == pytest.approx(5.5 / 20)
    assert refs["uniform_expected"]["expected_ctr"] == pytest.approx((0.2 * 10 + 0.325 * 10) / 20)
    assert refs["segments"]["s2"]["oracle"]["expected_ctr"] == pytest.approx(0.45)


def test_best_fixed_is_chosen_per_title_and_candidate_set():
    """Four titles, two columns; titles 1 and 3 show one variant only. A group key that let title 0's
    two-variant set share a group with them (e.g. title * K + k, or title / (K + 1) + k) would pick v0
    for title 0 on the strength of the other titles' clicks.

    t  title k  click          best fixed of its own group
    0  0     2  .10 .50        v1
    1  1     1  .90  -         v0
    2  2     2  .30 .20        v0
    3  3     1  .80  -         v0
    """
    from simulations.online.metrics import baselines

    n = 4
    click = np.array([[0.10, 0.50], [0.90, 0], [0.30, 0.20], [0.80, 0]])
    stream = Stream(
        n=n,
        user=np.arange(n),
        title=np.arange(n),
        segment=np.zeros(n, np.int64),
        tod=np.zeros(n, np.int64),
        k=np.array([2, 1, 2, 1]),
        click_p=click,
        play_p=click / 2,
        u_click=np.full(n, 0.5),
        u_play=np.full(n, 0.5),
        time_s=np.arange(n, dtype=float),
    )
    refs = baselines(stream, "click")
    np.testing.assert_array_equal(refs["best_fixed"], [1, 0, 0, 0])
    np.testing.assert_array_equal(refs["oracle"], [1, 0, 0, 0])


def _metrics(segments: dict) -> dict:
    base = {name: {"best_fixed": {"expected_ctr": 0.1}} for name in segments}
    return {
        "reward": "click",
        "segments": segments,
        "references": {"click": {"segments": base}},
        "policies": {"vw:squarecb": {"role": "evaluated", "segments": segments}},
    }


def test_the_report_marks_a_segment_below_one_artwork_for_everyone() -> None:
    seg = {
        "behind<b>": {"expected_ctr": 0.09, "final_share_of_oracle": 0.87, "final_best_fixed_share_of_oracle": 1.0},
        "ahead": {"expected_ctr": 0.2, "final_share_of_oracle": 0.93, "final_best_fixed_share_of_oracle": 0.34},
    }
    html = segment_table(_metrics(seg))
    assert "behind&lt;b&gt;" in html and "behind<b>" not in html  # a scenario's names are escaped
    assert '<td class="loss">\u25bc 0.870</td>' in html
    assert '<td class="gain">0.930</td>' in html
    assert "<td>1.000</td>" in html and "<td>0.340</td>" in html  # best fixed's own share, per segment


def test_the_demo_headline_names_the_segments_left_behind() -> None:
    head = {
        "policy": "vw:squarecb",
        "ctr": 0.1,
        "best_single_artwork_ctr": 0.08,
        "oracle_ctr": 0.12,
        "lift_over_best_fixed": 0.25,
        "share_of_oracle": 0.8,
        "replay": {
            "estimator": "dr",
            "policy": "vw:squarecb",
            "value": 0.1,
            "low": 0.09,
            "high": 0.11,
            "confidence": 0.95,
        },
        "left_behind": [{"segment": "families", "share_of_oracle": 0.871, "best_fixed_share_of_oracle": 1.0}],
    }
    line = headline_text(head)[2]
    assert "families 87.1% of its oracle vs 100.0%" in line
    head["left_behind"] = []
    assert headline_text(head)[2].startswith("no segment left behind")


@pytest.mark.parametrize("scenario", ["segments", "cold-start"])
def test_the_default_leaves_no_segment_behind_by_100k_impressions(scenario: str) -> None:
    """The issue's target on the project's scenarios (docs/defaults.md has all four, two seeds)."""
    sc = load_scenario(scenario)
    env = Environment(sc, seed=0)
    stream = env.generate(100_000)
    policy = make_policy("vw", seed=0, reward_wait_s=sc.reward_wait_s)  # the default: vw:select
    trace = run_policy(env, stream, policy)
    policy.close()
    m = policy_metrics(env, stream, trace, "click", floor=sc.exposure_floor)
    assert len(m["segments"]) == 4
    for name, seg in m["segments"].items():
        assert seg["final_impressions"] > 1000
        # measured: every segment at 0.87-0.95 of its oracle; one artwork gives them 0.30-0.86
        assert seg["final_share_of_oracle"] > seg["final_best_fixed_share_of_oracle"] + 0.03, name
        assert seg["final_share_of_oracle"] > 0.85, name


def test_the_floor_settles_and_starts_again_when_tastes_drift() -> None:
    """The default's floor on `drift` (tastes rotate half-way, 6 variants: the budget's floor is
    0.05 / 6 a variant): settled well below it just before the rotation, back at it once the drift
    hook's boost is over, settling again by the end, and never below MIN_PROPENSITY. A floor that
    stays (`exploration_decay=None`) keeps 0.05 / 6 before the rotation."""
    from bandit.sampling import MIN_PROPENSITY

    sc = load_scenario("drift")
    env = Environment(sc, seed=0)
    stream = env.generate(100_000)

    def lowest_by_learned(**options):
        policy = make_policy("vw", seed=0, reward_wait_s=sc.reward_wait_s, **options)
        lows: list[tuple[int, float]] = []
        rank = policy.rank

        def recording(*args, **kwargs):
            d = rank(*args, **kwargs)
            lows.append((policy.n_learned, min(d.pmf)))
            return d

        policy.rank = recording
        run_policy(env, stream, policy)
        policy.close()
        return policy, lows

    policy, lows = lowest_by_learned()
    (drift,) = policy.drift_events  # measured: the rotation at impression 50,000 is found at 50,057
    assert 50_000 <= drift < 52_000

    def floor_in(lo: int, hi: int) -> float:
        return min(p for n, p in lows if lo <= n < hi)

    budget_floor = 0.05 / 6
    # just before the rotation: sqrt(5,000 / 50,000), about a third of the budget's floor
    assert floor_in(drift - 1_000, drift) == pytest.approx(budget_floor * (5_000 / drift) ** 0.5, rel=0.02)
    # the boost (3,000 events at 5% a variant), then the budget's floor again, unsettled
    assert floor_in(drift + 3_100, drift + 5_000) == pytest.approx(budget_floor, rel=1e-9)
    # settling again, counted from the drift: sqrt(5,000 / ~50,000) of it by the end
    last = max(n for n, _ in lows)
    assert floor_in(last - 1_000, last + 1) == pytest.approx(budget_floor * (5_000 / (last - drift)) ** 0.5, rel=0.02)
    assert min(p for _, p in lows) >= MIN_PROPENSITY
    _, fixed = lowest_by_learned(exploration_decay=None)
    assert min(p for n, p in fixed if 45_000 <= n < 50_000) == pytest.approx(budget_floor, rel=1e-9)
