"""No segment left behind: each segment's share of its own oracle next to what one artwork for
everyone (best fixed) gives it, in metrics.json, the simulate/demo report and the demo's headline;
and, on the project's scenarios at 100,000 impressions, the default leaves no segment behind."""
from __future__ import annotations

import pytest

from artbandit.demo import headline_text
from bandit import make_policy
from simulations.world.environment import Environment
from simulations.online.metrics import policy_metrics
from simulations.reports.simulation import segment_table
from simulations.online.runner import run_policy
from simulations.world.scenarios import load_scenario


def _metrics(segments: dict) -> dict:
    base = {name: {"best_fixed": {"expected_ctr": 0.1}} for name in segments}
    return {"reward": "click", "segments": segments,
            "references": {"click": {"segments": base}},
            "policies": {"vw:squarecb": {"role": "evaluated", "segments": segments}}}


def test_the_report_marks_a_segment_below_one_artwork_for_everyone() -> None:
    seg = {"behind<b>": {"expected_ctr": 0.09, "final_share_of_oracle": 0.87,
                         "final_best_fixed_share_of_oracle": 1.0},
           "ahead": {"expected_ctr": 0.2, "final_share_of_oracle": 0.93,
                     "final_best_fixed_share_of_oracle": 0.34}}
    html = segment_table(_metrics(seg))
    assert "behind&lt;b&gt;" in html and "behind<b>" not in html  # a scenario's names are escaped
    assert '<td class="loss">\u25bc 0.870</td>' in html
    assert '<td class="gain">0.930</td>' in html
    assert "<td>1.000</td>" in html and "<td>0.340</td>" in html  # best fixed's own share, per segment


def test_the_demo_headline_names_the_segments_left_behind() -> None:
    head = {"policy": "vw:squarecb", "ctr": 0.1, "best_single_artwork_ctr": 0.08, "oracle_ctr": 0.12,
            "lift_over_best_fixed": 0.25, "share_of_oracle": 0.8,
            "replay": {"estimator": "dr", "policy": "vw:squarecb", "value": 0.1, "low": 0.09, "high": 0.11,
                       "confidence": 0.95},
            "left_behind": [{"segment": "families", "share_of_oracle": 0.871,
                             "best_fixed_share_of_oracle": 1.0}]}
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
