"""evaluate's decision layer, by hand: the ship rule on intervals at its boundaries, references never
winning or ranked, the leaderboard's order (best first, an estimate of 0.0 is an estimate), and no
'nan' in anything printed."""
from __future__ import annotations

import numpy as np
import pytest

from simulations.ope.estimators import OPEArrays
from simulations.ope.evaluate import (
    KEEP,
    LIKELY,
    SHIP,
    _change,
    decide,
    leaderboard,
    verdict,
)


def iv(low: float, high: float, value: float | None = None) -> dict:
    return {"value": (low + high) / 2 if value is None else value, "low": low, "high": high}


ZERO_DIFF = {"value": 0.0, "low": -0.01, "high": 0.01}     # paired difference straddling zero
POSITIVE_DIFF = {"value": 0.03, "low": 0.01, "high": 0.05}  # paired difference above zero


@pytest.mark.parametrize("cand, cur, diff, expected", [
    # issue 28's case: the candidate's point estimate (0.55) is above the current high (0.53), but its
    # interval [0.45, 0.65] overlaps [0.47, 0.53]: never ship on the point estimate
    (iv(0.45, 0.65), iv(0.47, 0.53), ZERO_DIFF, KEEP),
    (iv(0.45, 0.65), iv(0.47, 0.53), POSITIVE_DIFF, LIKELY),
    # touching intervals overlap: not clearly better, whichever side touches
    (iv(0.53, 0.60), iv(0.47, 0.53), ZERO_DIFF, KEEP),
    (iv(0.53, 0.60), iv(0.47, 0.53), POSITIVE_DIFF, LIKELY),
    # just separated: ship
    (iv(0.5301, 0.60), iv(0.47, 0.53), ZERO_DIFF, SHIP),
    # separated the other way (the candidate clearly worse): keep
    (iv(0.40, 0.4699), iv(0.47, 0.53), ZERO_DIFF, KEEP),
    (iv(0.40, 0.47), iv(0.47, 0.53), ZERO_DIFF, KEEP),
    # a missing bound decides nothing
    (iv(float("nan"), 0.9, 0.6), iv(0.1, 0.2), POSITIVE_DIFF, LIKELY),
    (iv(float("nan"), 0.9, 0.6), iv(0.1, 0.2), {"value": np.nan, "low": np.nan, "high": np.nan}, KEEP),
    (iv(0.5, 0.9), iv(0.1, float("nan")), None, KEEP),
    ({"value": 0.6, "low": None, "high": 0.9}, iv(0.1, 0.2), None, KEEP),
    (iv(0.5, 0.9), {"value": 0.1, "low": 0.0, "high": None}, None, KEEP),
    (iv(0.45, 0.65), iv(0.47, 0.53), {"value": 0.02, "low": 0.0, "high": 0.04}, KEEP),  # touching zero
])
def test_the_ship_rule_is_judged_on_the_intervals(cand, cur, diff, expected) -> None:
    assert verdict(cand, cur, diff) == expected


def _arrays(delta: np.ndarray) -> tuple[OPEArrays, OPEArrays]:
    """A logged policy and a candidate on the same events whose per-event DR terms differ by `delta`
    (weights 1: the candidate's probability of the logged action is the logged one)."""
    n = len(delta)
    rng = np.random.default_rng(0)
    reward = (rng.random(n) < 0.5).astype(float)
    p = np.full(n, 0.5)
    q = np.full(n, 0.5)
    logged = OPEArrays(reward=reward, logged_p=p, target_p=p, dm=q, q_logged=q)
    cand = OPEArrays(reward=reward, logged_p=p, target_p=p, dm=q + delta, q_logged=q)
    return logged, cand


def _policy(name: str, dr: dict, reference: bool = False) -> dict:
    est = {**dr, "stderr": 0.01, "diagnostics": {"ess": 100.0}}
    return {"name": name, "reference": reference, "estimates": {"dr": est, "snips": est}}


def test_a_reference_never_wins_and_the_decision_uses_the_intervals() -> None:
    """best-fixed holds the highest estimate: the winner is the best deployable candidate; with the
    intervals of issue 28 ([0.45, 0.65] vs [0.47, 0.53]) and a paired difference around zero the
    decision is to keep the current policy."""
    logged, cand = _arrays(np.tile([0.05, -0.05], 50))
    policies = [_policy("logged", iv(0.47, 0.53, 0.50), True), _policy("best-fixed", iv(0.60, 0.90, 0.75), True),
                _policy("uniform", iv(0.40, 0.50, 0.45)), _policy("vw:squarecb", iv(0.45, 0.65, 0.55))]
    d = decide(policies, {"logged": logged, "vw:squarecb": cand, "uniform": logged}, 0.95)
    assert d["winner"] == "vw:squarecb"
    assert d["action"] == KEEP and d["clearly_better"] is False
    assert d["recommendation"].startswith("Keep the current policy") and "+10.0%" in d["recommendation"]
    # the same intervals with a paired difference clearly above zero: likely better, still not shipped
    logged, cand = _arrays(np.full(100, 0.05))
    d = decide(policies, {"logged": logged, "vw:squarecb": cand, "uniform": logged}, 0.95)
    assert d["action"] == LIKELY and not d["clearly_better"] and "collect more data" in d["recommendation"]
    assert d["difference"]["low"] == pytest.approx(0.05)
    # separated intervals: ship
    policies[3] = _policy("vw:squarecb", iv(0.5301, 0.65, 0.59))
    d = decide(policies, {"logged": logged, "vw:squarecb": cand, "uniform": logged}, 0.95)
    assert d["action"] == SHIP and d["clearly_better"] and d["recommendation"].startswith("Ship vw:squarecb")


def test_the_leaderboard_is_best_first_and_an_estimate_of_zero_is_not_missing() -> None:
    from artbandit.cli.evaluate import format_leaderboard

    policies = [_policy("a-middle", iv(-0.2, 0.2, 0.0)), _policy("b-missing", iv(0.0, 0.0, None)),
                _policy("c-best", iv(0.2, 0.4, 0.3)), _policy("d-negative", iv(-0.3, 0.1, -0.1)),
                _policy("best-fixed", iv(0.5, 0.9, 0.7), True), {"name": "e-broken", "error": "ValueError: x"}]
    policies[1]["estimates"]["dr"]["value"] = None
    board = leaderboard(policies)
    assert [(rank, p["name"]) for rank, p in board] == [
        (None, "best-fixed"), (1, "c-best"), (2, "a-middle"), (3, "d-negative"), (4, "b-missing")]
    text = format_leaderboard({"settings": {"confidence": 0.95}, "policies": policies})
    lines = text.splitlines()
    names = [line.split()[1] for line in lines[1:]]
    assert names == ["best-fixed", "c-best", "a-middle", "d-negative", "b-missing", "e-broken"]
    assert lines[1].split()[0] == "ref" and lines[2].split()[0] == "1"  # the reference is never #1
    assert "nan" not in text.lower() and "None" not in text


def test_nan_never_reaches_what_is_printed() -> None:
    assert _change(0.55, 0.50) == "+10.0%"
    assert _change(0.01, 0.0) == "+0.0100 absolute"  # a current value of 0 has no percentage
    assert _change(0.01, -0.02) == "+0.0300 absolute"
    assert _change(float("nan"), 0.5) == "no estimate" and _change(0.5, None) == "no estimate"
    from artbandit.cli.evaluate import format_leaderboard

    p = _policy("vw:squarecb", iv(0.1, 0.3, 0.2))
    p["estimates"]["dr"] = {**p["estimates"]["dr"], "low": float("nan"), "high": float("nan"),
                            "diagnostics": {"ess": float("nan")}}
    p["estimates"]["snips"] = {**p["estimates"]["snips"], "value": float("nan")}
    text = format_leaderboard({"settings": {"confidence": 0.95}, "policies": [p]})
    assert "nan" not in text.lower() and "[-, -]" in text


def test_the_replay_table_prints_no_nan() -> None:
    """replay's table shares the rule: an estimate with no weight on any event prints '-'."""
    from artbandit.cli.replay import format_table

    diag = {"events_used": 0, "ess": float("nan"), "max_weight": 0.0, "mean_weight": 0.0,
            "zero_support_share": None}
    result = {"settings": {"confidence": 0.95}, "policies": [{"name": "best-fixed", "estimates": {
        "snips": {"value": float("nan"), "low": float("nan"), "high": float("nan"), "diagnostics": diag}}}]}
    text = format_table(result)
    assert "nan" not in text.lower() and "[-, -]" in text


def test_the_decision_record_in_full() -> None:
    """Every field evaluation.json's decision holds, for a ship, for a log whose logged policy could
    not be scored, and for no candidate at all."""
    from simulations.ope.estimators import paired_difference

    logged, cand = _arrays(np.tile([0.04, 0.06], 50))
    policies = [_policy("logged", iv(0.47, 0.53, 0.50), True), _policy("vw:squarecb", iv(0.54, 0.64, 0.59))]
    arrays = {"logged": logged, "vw:squarecb": cand}
    d = decide(policies, arrays, 0.9)
    diff = paired_difference(cand, logged, "dr", 0.9)
    assert diff != paired_difference(cand, logged, "dr", 0.95)  # the confidence reaches the difference
    assert d == {"winner": "vw:squarecb", "estimator": "dr", "value": 0.59, "low": 0.54, "high": 0.64,
                 "clearly_better": True, "action": SHIP, "logged_value": 0.50, "logged_low": 0.47,
                 "logged_high": 0.53, "difference": diff,
                 "recommendation": "Ship vw:squarecb: estimated 0.5900 vs 0.5000 now (+18.0%), intervals do not overlap."}
    broken = [{"name": "logged", "error": "ValueError: x"}, policies[1]]
    assert decide(broken, arrays, 0.9) == {
        "winner": "vw:squarecb", "estimator": "dr", "value": 0.59, "low": 0.54, "high": 0.64,
        "clearly_better": False, "action": KEEP,
        "recommendation": "Best candidate: vw:squarecb (no logged policy to compare with)."}
    assert decide([policies[0]], arrays, 0.9) == {"winner": None, "clearly_better": False, "action": KEEP,
                                                  "recommendation": "No candidate could be evaluated."}
