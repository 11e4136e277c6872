"""evaluate's ship decision (`simulations.ope.evaluate.decide`), worked out by hand (issue 28).

Each policy's DR interval is given directly; the paired difference comes from per-event DR terms
built so that it is known exactly: with rewards 0 and q(x, a_i) = 0, an event's DR term is its `dm`
value, so a candidate with dm 0.6 everywhere against a logged policy with 0.5 everywhere differs by
exactly +0.1 on every event (interval [0.1, 0.1]); dm alternating 0.6/0.4 against 0.5 differs by
+-0.1, mean 0 (an interval around 0)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from simulations.ope.estimators import OPEArrays
from simulations.ope.estimators import paired_difference
from simulations.ope.evaluate import _value, decide

N = 8


def arrays(dm: list[float]) -> OPEArrays:
    return OPEArrays(reward=np.zeros(N), logged_p=np.full(N, 0.5), target_p=np.full(N, 0.5),
                     dm=np.resize(np.asarray(dm, float), N), q_logged=np.zeros(N))


def policy(name: str, value, low, high, reference: bool | None = None) -> dict:
    """One evaluated policy as `evaluate` lists it ("logged" and "best-fixed" are references)."""
    if reference is None:
        reference = name in ("logged", "best-fixed")
    return {"name": name, "reference": reference, "estimates": {"dr": {"value": value, "low": low, "high": high}}}


BETTER, SAME = arrays([0.6]), arrays([0.6, 0.4])
LOGGED = arrays([0.5])


def test_paired_difference_is_the_mean_of_per_event_differences() -> None:
    d = paired_difference(BETTER, LOGGED)
    assert d["value"] == pytest.approx(0.1) and d["low"] == pytest.approx(0.1) and d["high"] == pytest.approx(0.1)
    d = paired_difference(SAME, LOGGED)
    assert d["value"] == pytest.approx(0.0, abs=1e-12) and d["low"] < 0 < d["high"]
    assert d["low"] == pytest.approx(-d["high"])


def test_clearly_better_means_the_intervals_do_not_overlap_not_a_higher_point_estimate() -> None:
    # the case: [0.45, 0.65] vs [0.47, 0.53] overlap, whatever the point estimates say
    out = decide([policy("logged", 0.50, 0.47, 0.53), policy("cand", 0.55, 0.45, 0.65)],
                 {"cand": BETTER, "logged": LOGGED}, 0.95)
    assert out["winner"] == "cand" and out["clearly_better"] is False
    assert not out["recommendation"].startswith("Ship")
    # paired difference [0.1, 0.1] > 0: likely better, collect more data; +10.0% = 0.55 / 0.50 - 1
    assert "likely better (+10.0%" in out["recommendation"] and "collect more data" in out["recommendation"]
    assert out["difference"]["low"] == pytest.approx(0.1)
    assert (out["logged_value"], out["logged_low"], out["logged_high"]) == (0.50, 0.47, 0.53)
    assert (out["value"], out["low"], out["high"], out["estimator"]) == (0.55, 0.45, 0.65, "dr")


@pytest.mark.parametrize("low, clearly", [(0.53, False), (0.5301, True)])
def test_the_boundary_of_overlapping_intervals(low, clearly) -> None:
    # touching intervals (candidate low == logged high) still overlap: only low > high ships
    out = decide([policy("logged", 0.50, 0.47, 0.53), policy("cand", 0.60, low, 0.70)],
                 {"cand": BETTER, "logged": LOGGED}, 0.95)
    assert out["clearly_better"] is clearly
    if clearly:  # 0.60 / 0.50 - 1 = +20.0%
        assert out["recommendation"] == ("Ship cand: estimated 0.6000 vs 0.5000 now (+20.0%), "
                                         "intervals do not overlap.")
    else:
        assert out["recommendation"].startswith("cand is likely better (+20.0%")


def test_no_paired_gain_keeps_the_current_policy() -> None:
    out = decide([policy("logged", 0.50, 0.40, 0.60), policy("cand", 0.52, 0.42, 0.62)],
                 {"cand": SAME, "logged": LOGGED}, 0.95)
    assert out["clearly_better"] is False
    assert out["recommendation"] == "Keep the current policy: the best candidate cand (+4.0%) is not clearly better."


def test_a_reference_policy_never_wins_and_errors_are_left_out() -> None:
    policies = [policy("logged", 0.50, 0.47, 0.53), policy("best-fixed", 0.90, 0.85, 0.95),
                {"name": "broken", "reference": False, "error": "failed"}, policy("a", 0.55, 0.54, 0.56),
                policy("b", 0.58, 0.57, 0.59)]
    out = decide(policies, {"b": BETTER, "a": BETTER, "logged": LOGGED}, 0.95)
    assert out["winner"] == "b" and out["clearly_better"] is True  # 0.57 > 0.53


def test_missing_or_non_finite_estimates_lose_to_zero() -> None:
    # an estimate of exactly 0.0 is a value, not a missing one (issue 28's leaderboard bug)
    assert _value(policy("x", 0.0, 0, 0), "dr") == 0.0
    assert _value(policy("x", None, None, None), "dr") == -math.inf
    assert _value(policy("x", float("nan"), 0, 0), "dr") == -math.inf
    assert _value(policy("x", float("inf"), 0, 0), "dr") == -math.inf
    out = decide([policy("nan", float("nan"), 0, 0), policy("zero", 0.0, -0.1, 0.1), policy("none", None, None, None)],
                 {}, 0.95)
    assert out["winner"] == "zero"
    assert out == {"winner": "zero", "estimator": "dr", "value": 0.0, "low": -0.1, "high": 0.1,
                   "clearly_better": False, "action": "keep",
                   "recommendation": "Best candidate: zero (no logged policy to compare with)."}


def test_nothing_to_decide() -> None:
    out = decide([policy("logged", 0.95, 0.9, 1.0), policy("best-fixed", 0.9, 0.8, 1.0)], {}, 0.95)
    assert out == {"winner": None, "clearly_better": False, "action": "keep",
                   "recommendation": "No candidate could be evaluated."}
    # a logged policy that failed is no baseline: the best candidate is named, nothing more
    out = decide([{"name": "logged", "reference": True, "error": "x"}, policy("c", 0.3, 0.2, 0.4)], {}, 0.95)
    assert out["winner"] == "c" and out["recommendation"] == "Best candidate: c (no logged policy to compare with)." and "difference" not in out


def test_a_logged_value_of_zero_is_no_division_by_zero() -> None:
    out = decide([policy("logged", 0.0, 0.0, 0.0), policy("cand", 0.2, 0.1, 0.3)],
                 {"cand": BETTER, "logged": LOGGED}, 0.95)
    assert out["winner"] == "cand" and out["clearly_better"] is True and out["logged_value"] == 0.0
    assert out["recommendation"].startswith("Ship cand: estimated 0.2000 vs 0.0000 now")


def test_the_paired_interval_uses_the_requested_confidence() -> None:
    wide = decide([policy("logged", 0.5, 0.4, 0.6), policy("cand", 0.5, 0.4, 0.6)],
                  {"cand": SAME, "logged": LOGGED}, 0.95)["difference"]
    narrow = decide([policy("logged", 0.5, 0.4, 0.6), policy("cand", 0.5, 0.4, 0.6)],
                    {"cand": SAME, "logged": LOGGED}, 0.5)["difference"]
    assert narrow == paired_difference(SAME, LOGGED, "dr", 0.5)
    assert 0 < narrow["high"] < wide["high"]


def test_the_paired_snips_difference_is_the_difference_of_the_two_ratios_with_its_interval() -> None:
    # SNIPS = sum(w r) / sum(w), w = target_p / logged_p, on 4 events with rewards r = (1, 0, 1, 0):
    #   a: w = (1, 1, 0, 0): 1 / 2 = 0.5          b: w = (0, 1, 1, 1): 1 / 3
    # value 0.5 - 1/3 = 1/6 (IPS would give 1/4 - 1/4 = 0). Each side linearised around its value,
    # (num - v den) / mean(den): a (1, -1, 0, 0), b (0, -4/9, 8/9, -4/9); their difference
    # (1, -5/9, -8/9, 4/9) has mean 0 and sd sqrt((81 + 25 + 64 + 16) / 81 / 3) = sqrt(186 / 243),
    # so the interval is 1/6 +- z * sd / sqrt(4), z the normal quantile of the confidence (0.9 here).
    from statistics import NormalDist

    def arr(w):
        return OPEArrays(reward=np.array([1.0, 0, 1, 0]), logged_p=np.full(4, 0.5),
                         target_p=0.5 * np.asarray(w, float))
    d = paired_difference(arr([1, 1, 0, 0]), arr([0, 1, 1, 1]), "snips", confidence=0.9)
    half = NormalDist().inv_cdf(0.95) * math.sqrt(186 / 243) / 2
    assert d["value"] == pytest.approx(1 / 6)
    assert d["low"] == pytest.approx(1 / 6 - half) and d["high"] == pytest.approx(1 / 6 + half)


def test_a_paired_difference_that_touches_zero_is_not_likely_better() -> None:
    # the candidate's DR terms equal the logged policy's on every event: difference [0, 0]
    out = decide([policy("logged", 0.50, 0.40, 0.60), policy("cand", 0.50, 0.40, 0.60)],
                 {"cand": arrays([0.5]), "logged": LOGGED}, 0.95)
    assert out["difference"] == {"value": 0.0, "low": 0.0, "high": 0.0}
    assert out["recommendation"].startswith("Keep the current policy")
