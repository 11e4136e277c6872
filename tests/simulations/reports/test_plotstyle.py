"""Report charts a reader can read: tick labels that never collide, legible text, images that fit the
page, one colour per policy in the simulate, replay and demo charts, and one number format.
"""

from __future__ import annotations

import base64
import io
import re

import pytest

from simulations.online.runner import run_simulation
from simulations.reports import plotstyle

POLICIES = ["vw:squarecb", "linucb", "ts-per-title", "uniform", "vw:epsilon"]


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    """Five policies and the clickbait trade-off rerun (a dashed line of the same colour), with the log."""
    out = tmp_path_factory.mktemp("plots") / "sim"
    metrics = run_simulation("clickbait", POLICIES, impressions=6_000, seed=1, out_dir=out)
    return out, metrics


@pytest.fixture(scope="module")
def replay(sim, tmp_path_factory):
    from simulations.ope import run_replay

    out = tmp_path_factory.mktemp("plots") / "replay"
    return out, run_replay(
        sim[0] / "events.sqlite",
        ["vw:squarecb", "linucb", "uniform", "best-fixed"],
        ["ips", "snips", "dr"],
        out_dir=out,
    )


def _sim_figures(sim):
    from simulations.reports.simulation import _curves, _exposure, segment_figure
    from simulations.world.environment import Environment
    from simulations.world.scenarios import load_scenario

    _, metrics = sim
    env = Environment(load_scenario("clickbait"), seed=1)
    return {"curves": _curves(metrics), "exposure": _exposure(metrics, env), "segments": segment_figure(metrics)}


def _replay_figures(replay):
    from simulations.ope.report import _curves_figure, _estimates_figure

    return {"estimates": _estimates_figure(replay[1]), "replay curves": _curves_figure(replay[1])}


def test_count_labels_and_number_format():
    assert [plotstyle.count_label(v) for v in (0, 500, 2500, 10_000, 75_000, 100_000, 125_000, 1_500_000)] == [
        "0",
        "500",
        "2.5k",
        "10k",
        "75k",
        "100k",
        "125k",
        "1.5M",
    ]
    fmt = plotstyle.format_number
    assert (fmt(12_520.3), fmt(0.345449), fmt(40_000), fmt(float("nan")), fmt(None)) == (
        "12,520",
        "0.3454",
        "40,000",
        "-",
        "-",
    )
    for v in (1e-3, 0.5, 12.3, 999.9, 1e4, 1.252e4, 3e6, -2.5e5):
        assert "e" not in fmt(v), v
    assert plotstyle.format_percent(-0.137, signed=True) == "-13.7%"


def test_overlap_check_catches_run_together_labels():
    """The check itself can fail: 125000-style labels crammed on a narrow axis are caught."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3.2, 2))
    ax.plot([0, 125_000], [0, 1])
    ax.set_xticks(range(0, 125_001, 12_500))
    assert plotstyle.overlapping_labels(fig)
    plotstyle.count_axis(ax.xaxis)
    assert plotstyle.overlapping_labels(fig) == []
    plt.close(fig)


def test_every_report_chart_is_readable_and_fits_the_page(sim, replay):
    from PIL import Image

    from simulations.reports.htmlreport import png_data_uri

    figures = {**_sim_figures(sim), **_replay_figures(replay)}
    for name, fig in figures.items():
        assert plotstyle.overlapping_labels(fig) == [], name
        sizes = plotstyle.tick_font_sizes(fig)
        assert sizes and min(sizes) >= plotstyle.TICK_SIZE - 1, (name, min(sizes))
        uri = png_data_uri(fig)  # rendered exactly as the report inlines it
        with Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as im:
            w, h = im.size
        # shown at natural size in the 1100 px column: never shrunk (text stays at its point size),
        # never a sliver, never taller than a screen and a half
        assert 400 <= w <= 1100 and 200 <= h <= 1500, (name, im.size)


def test_policy_has_one_colour_in_every_chart(sim, replay):
    from matplotlib.colors import to_hex

    sim_figs, rep_figs = _sim_figures(sim), _replay_figures(replay)
    seen: dict[str, set[str]] = {}
    for fig in (sim_figs["curves"], rep_figs["replay curves"]):
        for ax in fig.axes:
            for line in ax.get_lines():
                label = line.get_label()
                if not label.startswith("_"):
                    seen.setdefault(plotstyle.policy_key(label), set()).add(to_hex(line.get_color()))
    for container in sim_figs["segments"].axes[0].containers:
        label = container.get_label()
        seen.setdefault(plotstyle.policy_key(label), set()).add(to_hex(container.patches[0].get_facecolor()))
    for policy in ("vw:squarecb", "linucb", "uniform"):
        assert seen[policy] == {plotstyle.POLICY_COLOURS[policy].lower()}, policy  # simulate, replay, segments
    assert seen["vw:squarecb"] != seen["linucb"] != seen["uniform"]
    # the quality-play rerun of vw:squarecb is the same colour, dashed
    rerun = [ln for ln in sim_figs["curves"].axes[0].get_lines() if "[reward=" in ln.get_label()]
    assert rerun and all(ln.get_linestyle() == "--" for ln in rerun)
    assert plotstyle.policy_colour("model:<b>x</b>") == plotstyle.policy_colour("model:<b>x</b>#2")


def test_report_tables_use_one_number_format(sim, replay):
    for page in ((sim[0] / "report.html").read_text(), (replay[0] / "report.html").read_text()):
        text = re.sub(r'src="data:[^"]+"', "", page)
        assert re.search(r"\d\.\d+e[+-]\d", text) is None  # no "1.252e+04"
        cells = re.findall(r"<td>(-?[\d,]+\.\d+)</td>", text)
        assert cells and all(len(c.split(".")[1]) in (3, 4) for c in cells)
