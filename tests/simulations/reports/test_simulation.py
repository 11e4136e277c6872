"""The per-segment comparison: each policy's rate next to the one-artwork-for-everyone baseline,
lifts only over a baseline of at least MIN_LIFT_BASE, losses marked (the chart used to show
+12,520% over a 0.25% CTR and hide two segments where personalisation lost).
"""

from __future__ import annotations

import re

import pytest

from simulations.online.metrics import MIN_LIFT_BASE
from simulations.reports import plotstyle
from simulations.reports.simulation import segment_figure, segment_table

BASE = {"tiny": 0.0025, "loses": 0.30, "gains": 0.20}
MINE = {
    "vw:squarecb": {"tiny": 0.3130, "loses": 0.2589, "gains": 0.25},
    "uniform": {"tiny": 0.10, "loses": 0.15, "gains": 0.10},
}


def _metrics(reward: str = "click") -> dict:
    key = "expected_ctr" if reward == "click" else "expected_play_rate"
    return {
        "reward": reward,
        "segments": list(BASE),
        "references": {reward: {"segments": {s: {"best_fixed": {key: b}} for s, b in BASE.items()}}},
        "policies": {
            label: {"role": "evaluated", "segments": {s: {key: v} for s, v in vals.items()}}
            for label, vals in MINE.items()
        }
        | {"vw:squarecb [reward=quality_play]": {"role": "trade-off", "segments": {}}},
    }


def _cells(table: str, segment: str) -> list[tuple[str, str]]:
    row = re.search(rf"<tr><td>{segment}</td>(.*?)</tr>", table).group(1)
    return re.findall(r'<td(?: class="(\w+)")?>([^<]*)</td>', row)


def test_table_shows_rates_side_by_side_and_marks_losses():
    table = segment_table(_metrics())
    assert f"at least {MIN_LIFT_BASE:.0%}" in table
    # baseline, then (rate, lift) per policy; the trade-off rerun (another reward) is left out
    assert _cells(table, "loses") == [
        ("", "0.3000"),
        ("", "0.2589"),
        ("loss", "\u25bc -13.7%"),
        ("", "0.1500"),
        ("loss", "\u25bc -50.0%"),
    ]
    assert _cells(table, "gains") == [
        ("", "0.2000"),
        ("", "0.2500"),
        ("gain", "+25.0%"),
        ("", "0.1000"),
        ("loss", "\u25bc -50.0%"),
    ]
    # over a 0.25% baseline no percentage is given, but both rates are
    assert _cells(table, "tiny") == [("", "0.0025"), ("", "0.3130"), ("na", "n/a"), ("", "0.1000"), ("na", "n/a")]
    assert "12,420" not in table and "12420" not in table


def test_chart_draws_both_rates_and_labels_losses_red():
    fig = segment_figure(_metrics("quality_play"))
    ax = fig.axes[0]
    bars = {c.get_label(): [p.get_height() for p in c.patches] for c in ax.containers}
    assert bars["one artwork for everyone (best fixed)"] == pytest.approx(list(BASE.values()))
    assert bars["vw:squarecb"] == pytest.approx(list(MINE["vw:squarecb"].values()))
    assert "quality-play rate" in ax.get_ylabel()
    labels = [(t.get_text(), t.get_color()) for t in ax.texts]
    assert ("-13.7%", plotstyle.LOSS_COLOUR) in labels and ("+25.0%", plotstyle.GAIN_COLOUR) in labels
    assert [t for t, _ in labels].count("n/a") == 2  # the tiny segment, both policies
    assert plotstyle.overlapping_labels(fig) == []
