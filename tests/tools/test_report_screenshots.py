"""The reports in a real browser (headless Chromium, skipped where none is installed): the page
renders to a readable size, and the DOM the browser parsed from a hostile report holds no script.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.reports_helpers import executable_markup

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("report_screenshots", ROOT / "tools" / "report_screenshots.py")
shots = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shots)

pytestmark = pytest.mark.skipif(shots.find_browser() is None, reason="no Chromium on PATH")


def test_hostile_report_renders_and_runs_nothing(tmp_path):
    from PIL import Image

    from simulations.online.runner import run_simulation

    scenario = tmp_path / "s.json"
    scenario.write_text(
        json.dumps(
            {
                "name": "<script>document.title='owned'</script>",
                "segments": [
                    {"name": "<img src=x onerror=alert(1)>", "tastes": {"faces": 1}},
                    {"name": "b", "tastes": {"dark": 1}},
                ],
            }
        )
    )
    run_simulation(
        str(scenario), ["vw:squarecb", "uniform"], impressions=2_000, seed=0, out_dir=tmp_path / "sim", log_policy=None
    )
    page = tmp_path / "sim" / "report.html"
    dom = shots.dump_dom(page)
    assert "<body" in dom and "&lt;script&gt;document.title" in dom  # the name, as text
    assert executable_markup(dom) == []
    written = shots.screenshot(page, tmp_path / "shots" / "sim.png")
    with Image.open(written[0]) as im:
        assert im.width == shots.WIDTH and 2_000 < im.height < shots.MAX_HEIGHT  # cropped, not blank
        # the page has content all the way down: the last tile is not white
        colours = im.crop((0, im.height - 400, im.width, im.height)).convert("L").getextrema()
        assert colours[0] < 128
    assert len(written) == 1 + -(-im.height // shots.TILE)
