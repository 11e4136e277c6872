"""`artbandit demo` end to end on a small setting: every stage's output exists and parses."""
from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from imaging.sample import make_sample_video


# A folder and file name that together read `<script>alert(1)</script>.mp4` (a file name cannot hold "/")
HOSTILE_DIR = "<script>alert(1)<"
HOSTILE_TITLE = "<script>alert('title')</script>"


@pytest.fixture(scope="module")
def small_video(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("video") / HOSTILE_DIR
    folder.mkdir()
    return make_sample_video(folder / "script>.mp4", seconds=8, width=480, height=270, seed=3)


def _scripts(page: str) -> list[str]:
    """Script elements and on* handlers as a browser's parser sees them."""
    from html.parser import HTMLParser

    found: list[str] = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.extend([tag] if tag == "script" else [n for n, _ in attrs if n.lower().startswith("on")])

    Parser().feed(page)
    return found


def test_demo_runs_end_to_end(small_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-c", "from artbandit.cli import main; main()", "demo", "-o", str(out),
         "--video", str(small_video), "--title", HOSTILE_TITLE, "--impressions", "3000", "--quiet"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "index.html" in proc.stdout and "lift" in proc.stdout

    summary = json.loads((out / "demo.json").read_text())
    assert summary["schema"] == "artbandit.demo/1"
    (title,) = summary["titles"]
    manifest = json.loads((out / "extract" / title["name"] / "manifest.json").read_text())
    assert manifest["schema"] == "artbandit.candidates/1"
    assert len(manifest["candidates"]) == title["candidates"] >= 2
    variants = json.loads((out / "variants" / title["name"] / "variants.json").read_text())
    assert variants["schema"] == "artbandit.variants/1"
    # candidates x treatments (none, warm, cool), all posters
    assert len(variants["variants"]) == title["candidates"] * 3 == title["variants"]
    assert {v["aspect"] for v in variants["variants"]} == {"2:3"}
    # provenance points at the final folder, not at a temporary one
    assert {Path(v["source"]["path"]).resolve().parent for v in variants["variants"]} == {
        (out / "extract" / title["name"]).resolve()}
    metrics = json.loads((out / "simulate" / "metrics.json").read_text())
    assert metrics["catalog"]["real_variants"] and metrics["catalog"]["variants"] == title["variants"]
    assert metrics["events"] == "events.sqlite" and (out / "simulate" / "events.sqlite").is_file()
    replay = json.loads((out / "replay" / "replay.json").read_text())
    assert ".tmp" not in json.dumps(replay["log"])
    assert {p["name"] for p in replay["policies"]} >= {"vw:squarecb", "uniform"}

    head = summary["headline"]
    assert 0.0 < head["ctr"] <= head["oracle_ctr"] + 0.05
    assert 0.0 < head["share_of_oracle"] <= 1.0  # expected values: nothing beats the oracle
    rep = head["replay"]
    assert rep["low"] <= rep["value"] <= rep["high"]

    page = (out / "index.html").read_text()
    # the hostile video path is shown, escaped; no page of the demo runs a script
    assert html.escape(str(small_video)) in page and "<script>alert(1)</script>.mp4" in str(small_video)
    for report in (page, (out / "simulate" / "report.html").read_text(), (out / "replay" / "report.html").read_text()):
        assert _scripts(report) == [] and "<script" not in report
    assert summary["settings"]["title"] == HOSTILE_TITLE
    for link in re.findall(r"(?:href|src)='([^']+)'|(?:href|src)=\"([^\"]+)\"", page):
        target = link[0] or link[1]
        if target.startswith("data:image/"):  # inlined charts
            continue
        assert (out / target).exists(), f"index.html links to missing {target}"


def test_demo_rejects_missing_video_and_foreign_output(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from artbandit.cli import cli

    res = CliRunner().invoke(cli, ["demo", "-o", str(tmp_path / "o"), "--video", str(tmp_path / "nope.mp4")])
    assert res.exit_code != 0 and "nope.mp4" in str(res.exception or res.output)
    assert not (tmp_path / "o").exists()

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.txt").write_text("do not delete")
    proc = subprocess.run(
        [sys.executable, "-c", "from artbandit.cli import main; main()", "demo", "-o", str(foreign)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0
    assert proc.stderr.count("\n") == 1 and "earlier demo output" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (foreign / "thesis.txt").read_text() == "do not delete"


def test_demo_that_fails_midway_leaves_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 4000)  # an mp4 header, no video
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-c", "from artbandit.cli import main; main()", "demo", "-o", str(out),
         "--video", str(bad), "--quiet"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0 and "broken.mp4" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
