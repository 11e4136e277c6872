"""Every string a user supplies reaches the HTML reports escaped: a scenario, segment, genre, variant
or policy named `<script>...</script>`, or a log in such a folder, shows as text and never runs.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pytest

from simulations.online.runner import run_simulation
from tests.reports_helpers import executable_markup

SCRIPT = '<script>alert("{}")</script>'
HOSTILE = {
    "scenario": SCRIPT.format("scenario"),
    "description": SCRIPT.format("description") + " & <b>bold</b>",
    "segment": SCRIPT.format("segment") + " $x$",  # "$" would be TeX to matplotlib
    "segment2": '"><img src=x onerror=alert(2)>',
    "genre": SCRIPT.format("genre"),
    "variant": "<img src=x onerror=alert('variant')>",
}


def _hostile_variants_folder(root: Path) -> Path:
    """An `artbandit variants`-like folder whose variant ids are HTML."""
    from PIL import Image

    from imaging.features import image_features

    folder = root / "<b>title<b>"
    folder.mkdir()
    variants = []
    for j, rgb in enumerate(((200, 60, 30), (20, 20, 30), (240, 220, 200))):
        img = np.zeros((96, 64, 3), np.uint8) + np.array(rgb, np.uint8)
        img[30:60, 10:50] = 255 - img[30:60, 10:50]
        Image.fromarray(img).save(folder / f"v{j}.jpg")
        variants.append(
            {"id": f"{HOSTILE['variant']}{j}", "file": f"v{j}.jpg", "features": image_features(img, faces=[])}
        )
    (folder / "variants.json").write_text(json.dumps({"schema": "artbandit.variants/1", "variants": variants}))
    return folder


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    scenario = root / "hostile.json"
    scenario.write_text(
        json.dumps(
            {
                "name": HOSTILE["scenario"],
                "description": HOSTILE["description"],
                "genres": [HOSTILE["genre"]],
                "segments": [
                    {
                        "name": HOSTILE["segment"],
                        "weight": 1,
                        "tastes": {"faces": 1.0},
                        "genres": {HOSTILE["genre"]: 2},
                    },
                    {"name": HOSTILE["segment2"], "weight": 1, "tastes": {"dark": 1.0}},
                ],
                "exposure_floor": 0.4,  # so the starved-variants list (variant ids) is on the page
            }
        )
    )
    out = root / "sim"
    metrics = run_simulation(
        str(scenario),
        ["vw:squarecb", "uniform"],
        impressions=1_500,
        seed=0,
        out_dir=out,
        variants=[_hostile_variants_folder(root)],
    )
    return root, out, metrics


def test_simulate_report_escapes_scenario_segment_genre_and_variant_names(hostile_run):
    _, out, metrics = hostile_run
    page = (out / "report.html").read_text("utf-8")
    assert executable_markup(page) == []
    for key in ("scenario", "description", "segment", "segment2", "genre"):
        assert html.escape(HOSTILE[key]) in page, key
    assert html.escape(HOSTILE["variant"]) in page  # starved list / artwork table
    assert metrics["policies"]["vw:squarecb"]["exposure"]["starved"]  # (the list was there to escape)
    # the names are what metrics.json says, unchanged (escaping is for the page only)
    assert set(metrics["segments"]) == {HOSTILE["segment"], HOSTILE["segment2"]}


def test_replay_report_escapes_log_path_policy_names_notes_and_warnings(hostile_run, tmp_path):
    import shutil

    from simulations.ope import run_replay
    from simulations.ope.report import write_html_report

    _, out, _ = hostile_run
    folder = tmp_path / "<img src=x onerror=alert('dir')>"
    folder.mkdir()
    shutil.copy(out / "events.sqlite", folder / "events.sqlite")
    result = run_replay(
        folder / "events.sqlite", ["uniform", "best-fixed"], ["ips", "snips"], out_dir=tmp_path / "replay"
    )
    page = (tmp_path / "replay" / "report.html").read_text("utf-8")
    assert executable_markup(page) == []
    assert html.escape(str(folder)) in page

    # names that only a library caller or a model folder can give, and notes from a reader
    result["policies"][0]["name"] = SCRIPT.format("policy") + " $1"
    result["policies"][0]["estimates"]["ips"]["warnings"].append(SCRIPT.format("warning"))
    result["log"]["notes"].append(SCRIPT.format("note"))
    write_html_report(result, tmp_path / "again.html")
    page = (tmp_path / "again.html").read_text("utf-8")
    assert executable_markup(page) == []
    for text in (SCRIPT.format("policy"), SCRIPT.format("warning"), SCRIPT.format("note")):
        assert html.escape(text) in page


def test_html_table_escapes_cells_and_headers():
    from simulations.reports.htmlreport import Cell, html_table

    table = html_table([SCRIPT.format("head")], [[SCRIPT.format("cell")], [Cell(SCRIPT.format("c"), 'x" onclick="y')]])
    assert executable_markup(table) == [] and 'onclick="y"' not in table
    assert html.escape(SCRIPT.format("cell")) in table and html.escape(SCRIPT.format("head")) in table
