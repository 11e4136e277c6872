"""Exact values of the OPE estimators on a hand-computed four-event log, and every edge of their rules.

Written against the mutants mutmut left alive in simulations/ope/estimators.py (docs/testing.md): each
expected number below is worked out by hand in the comments (checked with the stdlib `statistics`
module), never by calling the estimators' own code.
"""
from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest

from simulations.errors import SimulationError
from simulations.ope.estimators import OPEArrays, cumulative_curve, diagnostics, estimate, ratio_interval, terms

# Four events. weights w = pi / mu = [1/0.5, 0.5/0.25, 0.25/0.5, 0/0.8] = [2, 2, 0.5, 0].
REWARD = [1.0, 0.0, 1.0, 0.0]
LOGGED_P = [0.5, 0.25, 0.5, 0.8]
TARGET_P = [1.0, 0.5, 0.25, 0.0]
DM = [0.6, 0.3, 0.5, 0.2]  # sum_a pi(a|x) q(x, a)
Q_LOGGED = [0.7, 0.2, 0.4, 0.1]  # q(x_i, a_i)
MATCHED = [True, True, False, False]
Z95 = 1.959963984540054  # Phi^-1(0.975)
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


def tiny(**overrides) -> OPEArrays:
    # the optional arrays are not coerced by OPEArrays (only reward/logged_p/target_p are): pass numpy
    kw = dict(reward=REWARD, logged_p=LOGGED_P, target_p=TARGET_P, dm=np.array(DM), q_logged=np.array(Q_LOGGED),
              matched=np.array(MATCHED))
    kw.update(overrides)
    return OPEArrays(**kw)


def raw(name: str, data: OPEArrays, **kw) -> tuple[float, float]:
    """The delta-method (or bootstrap) interval before the edge rule (test_replay_intervals.py pins that)."""
    return ratio_interval(*terms(name, data), **kw)[1:3]


def core(warnings_: list[str]) -> list[str]:
    """Warnings but the few-successes one (four events, or all-zero rewards, always have it)."""
    return [w for w in warnings_ if "Wilson" not in w]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_estimator_matches_the_hand_computed_value_and_interval(name):
    value, se = EXPECTED[name]
    e = estimate(name, tiny())
    assert e.estimator == name
    assert e.value == pytest.approx(value, abs=1e-12)
    assert e.stderr == pytest.approx(se, rel=1e-9)
    low, high = raw(name, tiny())
    assert low == pytest.approx(value - Z95 * se, rel=1e-9)
    assert high == pytest.approx(value + Z95 * se, rel=1e-9)
    # four events, at most two paying: the reported interval contains that one, within [0, 1]
    assert e.low <= max(low, 0.0) and e.high >= min(high, 1.0) and 0.0 <= e.low and e.high <= 1.0
    assert (e.interval, e.confidence) == ("asymptotic", 0.95)
    d = e.to_dict()
    assert set(d) == {"estimator", "value", "low", "high", "stderr", "interval", "confidence", "diagnostics",
                      "warnings"}
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
    values = {n: estimate(n, tiny()).value for n in EXPECTED}
    assert len({round(v, 9) for v in values.values()}) == 5


def test_confidence_reaches_the_interval():
    e = estimate("dr", tiny(), confidence=0.8)
    assert e.confidence == 0.8
    low, high = raw("dr", tiny(), confidence=0.8)
    assert low == pytest.approx(0.525 - Z80 * EXPECTED["dr"][1], rel=1e-9)
    assert high == pytest.approx(0.525 + Z80 * EXPECTED["dr"][1], rel=1e-9)


def test_ratio_interval_defaults_are_95_percent_asymptotic():
    num, den = np.array([2.0, 0.0, 0.5, 0.0]), np.ones(4)
    value, low, high, se, method = ratio_interval(num, den)
    assert method == "asymptotic"
    assert (low, high) == pytest.approx((0.625 - Z95 * se, 0.625 + Z95 * se), rel=1e-12)
    assert se == pytest.approx(EXPECTED["ips"][1], rel=1e-9)


def test_weights_ess_and_diagnostics_by_hand():
    d = diagnostics("ips", tiny())
    # ess = (sum w)^2 / sum w^2 = 4.5^2 / (4 + 4 + 0.25)
    assert d.ess == pytest.approx(20.25 / 8.25, rel=1e-12)
    assert (d.events, d.events_used, d.max_weight, d.mean_weight) == (4, 4, 2.0, 1.125)
    r = diagnostics("replay", tiny())
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
    assert diagnostics("ips", tiny()).zero_support_share is None
    assert diagnostics("ips", tiny(zero_support=np.array([0.0, 0.5, 0.0, 0.3]))).zero_support_share == pytest.approx(0.2)


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
    assert (d.events, d.max_weight, d.mean_weight, d.deterministic_share, d.zero_support_share) == (0, 0.0, 0.0, 0.0, None)
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
    assert math.isnan(e.stderr) and all(map(math.isnan, raw("ips", OPEArrays(reward=[1.0], logged_p=[0.5], target_p=[1.0]))))
    # no standard error: the interval is the Wilson one on one effective event, up to the estimate 2
    # itself (outside the reward range [0, 1], which a warning says)
    assert (e.low, e.high) == (pytest.approx(0.20654931), 2.0)
    assert "no events" not in " ".join(e.warnings)
    # two events are enough for a standard error: sd([1, -1]) / (sqrt(2) * 1)
    two = estimate("ips", OPEArrays(reward=[1.0, 0.0], logged_p=[1.0, 1.0], target_p=[1.0, 1.0]))
    assert two.stderr == pytest.approx(math.sqrt(2) / 2 / math.sqrt(2))


def test_arrays_are_coerced_to_float():
    data = OPEArrays(reward=[1, 0], logged_p=[1, 1], target_p=[True, False], dm=[1, 0], q_logged=[0, 1],
                     zero_support=[0, 0])
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
    with pytest.raises(SimulationError, match=re.escape("the replay estimator needs the target's sampled actions (matched)") + "$"):
        estimate("replay", tiny(matched=None))
    with pytest.raises(SimulationError, match="^the dr estimator needs reward-model predictions$"):
        estimate("dr", tiny(q_logged=None))
    with pytest.raises(SimulationError, match="^the dr estimator needs reward-model predictions$"):
        estimate("dr", tiny(dm=None))
    with pytest.raises(SimulationError, match="^the dm estimator needs reward-model predictions$"):
        estimate("dm", tiny(dm=None))
    assert estimate("dm", tiny(q_logged=None)).value == pytest.approx(0.4)  # DM never needs q(x, a_i)
    with pytest.raises(SimulationError, match=re.escape("unknown estimator 'switch'; valid: replay, ips, snips, dm, dr") + "$"):
        estimate("switch", tiny())


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
    return OPEArrays(reward=np.ones(n), logged_p=p, target_p=np.ones(n), matched=np.ones(n, bool),
                     n_candidates=np.full(n, k))


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
    data = OPEArrays(reward=np.arange(50) % 2, logged_p=np.full(50, 0.5), target_p=np.full(50, 0.5),
                     dm=np.linspace(0, 1, 50))  # 25 successes and 25 failures: the bootstrap as it is
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
    assert cumulative_curve("ips", tiny(), points=4) == ([1, 2, 3, 4], [2.0, 1.0, pytest.approx(2.5 / 3), 0.625])
    # two checkpoints start after n // points = 2 events
    assert cumulative_curve("ips", tiny(), points=2) == ([2, 4], [1.0, 0.625])
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
