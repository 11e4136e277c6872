"""`artbandit demo` end to end on a small setting: every stage's output exists and parses."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from imaging.decode.sample import make_sample_video
from tests.reports_helpers import executable_markup

# A folder and file name that together read `<script>alert(1)</script>.mp4` (a file name cannot hold "/")
HOSTILE_DIR = "<script>alert(1)<"
HOSTILE_TITLE = "<script>alert('title')</script>"


@pytest.fixture(scope="module")
def small_video(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("video") / HOSTILE_DIR
    folder.mkdir()
    return make_sample_video(folder / "script>.mp4", seconds=8, width=480, height=270, seed=3)


def test_demo_runs_end_to_end(small_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from artbandit.cli import main; main()",
            "demo",
            "-o",
            str(out),
            "--video",
            str(small_video),
            "--title",
            HOSTILE_TITLE,
            "--impressions",
            "3000",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=600,
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
        (out / "extract" / title["name"]).resolve()
    }
    metrics = json.loads((out / "simulate" / "metrics.json").read_text())
    assert metrics["catalog"]["real_variants"] and metrics["catalog"]["variants"] == title["variants"]
    assert metrics["events"] == "events.sqlite" and (out / "simulate" / "events.sqlite").is_file()
    replay = json.loads((out / "replay" / "replay.json").read_text())
    assert ".tmp" not in json.dumps(replay["log"])
    assert {p["name"] for p in replay["policies"]} >= {"vw:select", "uniform"}

    head = summary["headline"]
    assert 0.0 < head["ctr"] <= head["oracle_ctr"] + 0.05
    assert 0.0 < head["share_of_oracle"] <= 1.0  # expected values: nothing beats the oracle
    rep = head["replay"]
    assert rep["low"] <= rep["value"] <= rep["high"]

    page = (out / "index.html").read_text()
    # the hostile video path is shown, escaped; no page of the demo runs a script
    assert html.escape(str(small_video)) in page and "<script>alert(1)</script>.mp4" in str(small_video)
    for report in (page, (out / "simulate" / "report.html").read_text(), (out / "replay" / "report.html").read_text()):
        assert executable_markup(report) == []
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
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert proc.stderr.count("\n") == 1 and "not written by artbandit" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (foreign / "thesis.txt").read_text() == "do not delete"


def test_demo_that_fails_midway_leaves_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 4000)  # an mp4 header, no video
    out = tmp_path / "demo"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from artbandit.cli import main; main()",
            "demo",
            "-o",
            str(out),
            "--video",
            str(bad),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0 and "broken.mp4" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_demo_output_folder_rules_and_progress(small_video: Path, tmp_path: Path) -> None:
    """OutputFolder rules (own output of other settings only with force, never a folder holding the
    input video) and the progress protocol: every stage reports (done, total, unit), done rising to
    total."""
    from artbandit.demo import DemoSettings, run_demo
    from safeio.errors import OutputFolderError

    settings = DemoSettings(
        videos=[small_video],
        impressions=2_000,
        candidates=3,
        treatments=("none",),
        policies=("vw:squarecb", "uniform"),
        replay_policies=("uniform",),
        estimators=("ips",),
        jobs=1,
    )
    out = tmp_path / "demo"
    calls: list[tuple[int, int | None, str]] = []
    run_demo(out, settings, progress=lambda done, total, unit: calls.append((done, total, unit)))
    assert [u for u in dict.fromkeys(c[2] for c in calls)] == ["frames", "images", "impressions", "events"]
    for unit in ("frames", "images", "impressions", "events"):
        seen = [(d, t) for d, t, u in calls if u == unit]
        assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:])), unit
        assert seen[-1][0] == seen[-1][1], (unit, seen[-1])  # finished: done == total
    assert [c for c in calls if c[2] == "impressions"][-1][1] == 2 * 2_000  # two policies

    before = (out / "demo.json").read_bytes()
    other = DemoSettings(**{**settings.__dict__, "seed": 1})
    with pytest.raises(OutputFolderError, match="--force"):
        run_demo(out, other)
    assert (out / "demo.json").read_bytes() == before  # refused before anything was touched
    # the same settings regenerate; other settings need force; either way the user's files stay
    (out / "notes.txt").write_text("mine")
    (out / "extract" / "mine.txt").write_text("mine too")
    (title_dir,) = [p for p in (out / "extract").iterdir() if p.is_dir()]
    (title_dir / "inside.txt").write_text("inside a nested extract output")
    run_demo(out, other, force=True)
    assert json.loads((out / "demo.json").read_text())["settings"]["seed"] == 1
    assert (out / "notes.txt").read_text() == "mine" and (out / "extract" / "mine.txt").read_text() == "mine too"
    assert (title_dir / "inside.txt").read_text() == "inside a nested extract output"
    assert (title_dir / "manifest.json").is_file()
    marker = json.loads((out / ".artbandit-output.json").read_text())
    assert "demo.json" in marker["files"] and "notes.txt" not in marker["files"]
    # an output folder that holds the input video: refused, video kept
    inside = small_video.parent
    with pytest.raises(OutputFolderError, match="contains an input"):
        run_demo(inside.parent, DemoSettings(videos=[small_video], impressions=2_000), force=True)
    assert small_video.is_file()
