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
from simulations.ope.evaluate import _value, decide, paired_difference

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
                   "clearly_better": False, "recommendation": "Best candidate: zero."}


def test_nothing_to_decide() -> None:
    out = decide([policy("logged", 0.95, 0.9, 1.0), policy("best-fixed", 0.9, 0.8, 1.0)], {}, 0.95)
    assert out == {"winner": None, "clearly_better": False, "recommendation": "No candidate could be evaluated."}
    # a logged policy that failed is no baseline: the best candidate is named, nothing more
    out = decide([{"name": "logged", "reference": True, "error": "x"}, policy("c", 0.3, 0.2, 0.4)], {}, 0.95)
    assert out["winner"] == "c" and out["recommendation"] == "Best candidate: c." and "difference" not in out
