"""Position-aware estimators for slates (issue 33), hand-computed from Open Bandit Pipeline's
definitions: obp's IPW/SNIPW with `position` (pips, psnips) and SlateIndependentIPS (iips), with
intervals over slates; and the probability that a single-slot policy, filling slots by sampling
without replacement, puts an item at position k.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from simulations.ope.errors import OPEError
from simulations.ope.positions import position_estimate, slot_probabilities

SLATE = np.array([0, 0, 0, 1, 1, 1])
R = np.array([1.0, 0.0, 0.0, 0.0, 1.0, 1.0])
MU = np.array([0.1, 0.2, 0.5, 0.5, 0.25, 0.1])
PI = np.array([0.2, 0.2, 0.25, 0.5, 0.5, 0.05])  # weights 2, 1, .5 | 1, 2, .5; r*w: 2, 0, 0 | 0, 2, .5


def test_pips_is_the_mean_over_rows_with_an_interval_over_slates():
    e = position_estimate("pips", R, MU, PI, SLATE)
    assert (e.value, e.slates, e.rows) == (0.75, 2, 6)  # (2 + 2.5) / 6 rows
    # per slate: num 2 and 2.5, den 3 rows each; residuals -0.25, +0.25: sd sqrt(0.125), se sd / (sqrt 2 * 3)
    assert e.stderr == pytest.approx(math.sqrt(0.125) / (math.sqrt(2) * 3), rel=1e-12)
    # without slate ids each row is a slate: r*w = 2, 0, 0, 0, 2, .5, sd over six rows
    rows = position_estimate("pips", R, MU, PI)
    rw = [2, 0, 0, 0, 2, 0.5]
    m = sum(rw) / 6
    assert rows.value == 0.75 and rows.stderr == pytest.approx(
        math.sqrt(sum((x - m) ** 2 for x in rw) / 5) / math.sqrt(6), rel=1e-12
    )


def test_iips_sums_each_slate_and_averages_over_slates():
    e = position_estimate("iips", R, MU, PI, SLATE)
    assert e.value == 2.25  # (2 + 2.5) / 2 slates
    assert e.stderr == pytest.approx(math.sqrt(0.125) / math.sqrt(2), rel=1e-12)
    # one row per slate: iips is pips
    assert position_estimate("iips", R, MU, PI).value == position_estimate("pips", R, MU, PI).value


def test_psnips_normalises_by_the_weights():
    assert position_estimate("psnips", R, MU, PI, SLATE).value == pytest.approx(4.5 / 7, rel=1e-12)


def test_bad_inputs_are_one_line_errors():
    with pytest.raises(OPEError, match="unknown position estimator 'sips'"):
        position_estimate("sips", R, MU, PI)
    with pytest.raises(OPEError, match="one value per row"):
        position_estimate("pips", R, MU[:5], PI)
    with pytest.raises(OPEError, match=r"logged probabilities must lie in \(0, 1\]"):
        position_estimate("pips", R, np.zeros(6), PI)


def test_slot_probabilities_by_hand_for_three_items():
    p = [0.5, 0.3, 0.2]
    assert slot_probabilities(p, 1) == pytest.approx(p, abs=1e-10)
    # P(0 at 2) = .3 * .5/.7 + .2 * .5/.8; P(1 at 2) = .5 * .3/.5 + .2 * .3/.8; P(2 at 2) = .5 * .2/.5 + .3 * .2/.7
    second = [0.3 * 0.5 / 0.7 + 0.2 * 0.5 / 0.8, 0.5 * 0.3 / 0.5 + 0.2 * 0.3 / 0.8, 0.5 * 0.2 / 0.5 + 0.3 * 0.2 / 0.7]
    assert slot_probabilities(p, 2) == pytest.approx(second, abs=1e-10)
    # with three items the third slot takes what is left
    third = [1 - a - b for a, b in zip(p, second)]
    assert slot_probabilities(p, 3) == pytest.approx(third, abs=1e-10)


def test_slot_probabilities_match_enumerating_every_ordering():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(6))
    exact = np.zeros((3, 6))
    for order in itertools.permutations(range(6), 3):
        prob, left = 1.0, 1.0
        for j in order:
            prob *= p[j] / left
            left -= p[j]
        for k, j in enumerate(order):
            exact[k, j] += prob
    for k in (1, 2, 3):
        got = slot_probabilities(p, k)
        assert got == pytest.approx(exact[k - 1], abs=1e-9) and got.sum() == pytest.approx(1.0)
    # uniform over 80 items: 1/80 at every position (the Open Bandit Dataset's random logger)
    assert slot_probabilities(np.full(80, 1 / 80), 3) == pytest.approx(np.full(80, 1 / 80))
    # a deterministic policy: its item first, the others at random after it
    assert slot_probabilities([0.0, 1.0, 0.0, 0.0], 1) == pytest.approx([0, 1, 0, 0], abs=1e-9)
    assert slot_probabilities([0.0, 1.0, 0.0, 0.0], 2) == pytest.approx([1 / 3, 0, 1 / 3, 1 / 3], abs=1e-6)
    with pytest.raises(OPEError, match="exact up to position 3"):
        slot_probabilities(p, 4)


class FixedPmf:
    """A single-slot policy with one pmf over the (sorted) items a, b, c, learning nothing."""

    def predict(self, context, actions):
        return np.array([0.5, 0.3, 0.2])

    def learn(self, *args):
        return None


def slate_log(tmp_path):
    # six rows: (item, slot, click); a uniform logger over a, b, c at every slot (p = 1/3)
    rows = [("a", 1, 1), ("b", 2, 0), ("c", 3, 1), ("b", 1, 0), ("a", 2, 1), ("a", 3, 0)]
    path = tmp_path / "slates.csv"
    path.write_text("item,position,click,p,u\n" + "".join(f"{a},{k},{r},{1 / 3},x\n" for a, k, r in rows))
    return path


def test_replay_with_position_col_weights_each_row_by_its_slot(tmp_path):
    from simulations.ope import replay_log
    from simulations.ope.readers import ColumnMapping

    mapping = ColumnMapping(action_col="item", reward_col="click", propensity_col="p", position_col="position")
    result = replay_log(slate_log(tmp_path), [FixedPmf(), "best-fixed", "uniform"], ["ips"], mapping=mapping)
    by = {p["name"]: p["estimates"]["ips"]["value"] for p in result["policies"]}
    # FixedPmf: clicked rows are (a at 1), (c at 3), (a at 2): weights 3 * P(item at slot)
    p_a1 = 0.5
    p_a2 = 0.3 * 0.5 / 0.7 + 0.2 * 0.5 / 0.8
    p_c3 = 1 - 0.2 - (0.5 * 0.2 / 0.5 + 0.3 * 0.2 / 0.7)
    assert by["FixedPmf"] == pytest.approx(3 * (p_a1 + p_a2 + p_c3) / 6, rel=1e-12)
    # best-fixed: hindsight values a = 2/3 clicks / (1/3) ..., ranked a (2 clicks of 3), c (1 of 1), b (0):
    # slot 1 -> a, slot 2 -> c, slot 3 -> b; rows matching: (a, 1) clicked -> IPS = 3 * 1 / 6
    assert by["best-fixed"] == pytest.approx(0.5, rel=1e-12)
    assert by["uniform"] == pytest.approx(0.5, rel=1e-12)  # 1/3 at every slot: weights 1, mean click 3/6
    # the same through the per-event path (a reward model forces it): best-fixed alike
    dr = replay_log(slate_log(tmp_path), ["best-fixed"], ["ips", "dr"], mapping=mapping)
    assert dr["policies"][0]["estimates"]["ips"]["value"] == pytest.approx(0.5, rel=1e-12)
    assert any("slots from column 'position'" in n for n in result["log"]["notes"])


def test_position_col_bad_values_and_formats(tmp_path):
    from simulations.ope import open_log, replay_log
    from simulations.ope.readers import ColumnMapping

    path = slate_log(tmp_path)
    path.write_text(path.read_text().replace("b,2,0", "b,two,0"))
    mapping = ColumnMapping(action_col="item", reward_col="click", propensity_col="p", position_col="position")
    with pytest.raises(OPEError, match=r"row 2: position 'two' is not a slot number 1, 2, \.\.\."):
        replay_log(path, [FixedPmf()], ["ips"], mapping=mapping)
    log = tmp_path / "e.json"
    log.write_text("{}\n")
    with pytest.raises(OPEError, match="--position-col applies to CSV, JSONL and Parquet logs, not dsjson"):
        open_log(log, "dsjson", mapping)
