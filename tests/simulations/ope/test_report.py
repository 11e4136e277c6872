"""How replay's and evaluate's reports show numbers (issue 33): a hindsight reference's interval never
sets the axis the candidates are read on, integers print as integers, one word per unit, references
are not ranked, and the progress bar counts the log's events whatever the number of passes.
"""

from __future__ import annotations

import re

import numpy as np

from artbandit.cli.replay import events_counter
from simulations.ope import replay_log
from simulations.ope.report import _curves_figure, _estimates_figure, write_html_report


def click_log(tmp_path, n: int = 3000):
    rng = np.random.default_rng(3)
    rows = ["action,reward,propensity"]
    for _ in range(n):
        a = int(rng.integers(40))
        rows.append(f"a{a},{int(rng.random() < 0.004 + 0.0008 * a)},0.025")
    path = tmp_path / "log.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_best_fixed_does_not_set_the_estimates_axis_and_ess_prints_as_an_integer(tmp_path):
    result = replay_log(click_log(tmp_path), ["logged", "uniform", "best-fixed"], ["snips"])
    by = {p["name"]: p["estimates"]["snips"] for p in result["policies"]}
    assert by["best-fixed"]["high"] > 2 * by["uniform"]["high"]  # the reference's interval is far wider
    fig = _estimates_figure(result)
    ax = fig.axes[0]
    low, high = ax.get_ylim()
    assert high < by["best-fixed"]["high"]
    assert high >= by["uniform"]["high"] and low <= by["uniform"]["low"]
    # the cut-off end is written at the edge
    bf = by["best-fixed"]
    assert any(
        t.get_text() == f"↑ to {bf['high']:.3g}" or t.get_text().startswith(f"↑ {bf['value']:.3g} [") for t in ax.texts
    )
    assert [t.get_text() for t in ax.get_xticklabels()] == ["logged", "uniform", "best-fixed (hindsight)"]
    curves = _curves_figure(result).axes[0]
    assert curves.get_xlabel() == "events replayed"
    bf_curve = [v for v in next(p for p in result["policies"] if p["name"] == "best-fixed")["curve"]["snips"] if v]
    un_curve = [v for v in next(p for p in result["policies"] if p["name"] == "uniform")["curve"]["snips"] if v]
    assert curves.get_ylim()[1] < max(bf_curve) and curves.get_ylim()[1] >= max(un_curve)
    result["settings"]["learn_on"] = "all"
    write_html_report(result, tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text()
    cells = re.findall(r"<td>([^<]*)</td>", page)
    ess = round(by["best-fixed"]["diagnostics"]["ess"])
    assert str(ess) in cells and f"{ess}.0000" not in page


def test_the_progress_bar_counts_events_over_every_pass():
    moved = []
    on_events = events_counter(moved.append, 2)
    for _ in range(2):  # two passes over 10,000 events in chunks of 3,000
        for n in (3000, 3000, 3000, 1000):
            on_events(n)
    assert sum(moved) == 10_000 and all(m >= 0 for m in moved)
    moved.clear()
    on_events = events_counter(moved.append, 1)
    on_events(7)
    assert moved == [7]


def evaluation(refs_high: float = 0.9) -> dict:
    def est(v, lo, hi):
        return {"value": v, "low": lo, "high": hi, "diagnostics": {"ess": 114.0, "max_weight": 80.0}}

    def pol(name, v, lo, hi, reference=False):
        return {
            "name": name,
            "reference": reference,
            "estimates": {"dr": est(v, lo, hi), "snips": est(v, lo, hi)},
            "curve": {"events": [1, 2], "dr": [v, v]},
            "buckets": {"dr": []},
        }

    return {
        "settings": {"confidence": 0.95},
        "policies": [
            pol("best-fixed", 0.3, 0.0, refs_high, True),
            pol("vw", 0.05, 0.04, 0.06),
            pol("logged", 0.04, 0.035, 0.045, True),
            pol("uniform", 0.045, 0.04, 0.05),
        ],
        "decision": {"winner": "vw", "clearly_better": False, "recommendation": "Keep the current policy."},
        "drift": {},
        "log": {"path": "log.csv", "format": "csv", "events": 1, "titles": 1, "logged_reward_mean": 0.04, "notes": []},
    }


def test_evaluate_page_ranks_candidates_only_and_never_says_1_titles(tmp_path):
    from simulations.ope.evalreport import write_evaluation_report

    write_evaluation_report(evaluation(), tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text()
    rows = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td>", page)
    board = [r for r in rows if r[1].split(" ")[0] in ("best-fixed", "vw", "logged", "uniform")]
    assert board == [("ref", "best-fixed (reference)"), ("1", "vw"), ("2", "uniform"), ("ref", "logged (reference)")]
    assert "1 titles" not in page and "1 events" not in page
    assert "1 event, 1 title" in page


def test_replay_says_1_event_not_1_events(tmp_path, console):
    path = tmp_path / "one.csv"
    path.write_text("action,reward,propensity\na,1,0.5\n")
    proc = console("replay", path, "--policy", "uniform", "--estimator", "ips", "-o", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert "1 event -> " in proc.stderr and "1 events ->" not in proc.stderr
    result = (tmp_path / "out" / "replay.json").read_text()
    import json

    ips = json.loads(result)["policies"][0]["estimates"]["ips"]
    assert ips["low"] <= ips["value"] <= ips["high"]  # 2.0 (w = 2, r = 1): the interval holds it
