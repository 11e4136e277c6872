"""imaging.candidates.batch through the real console script: what an extract output folder allows
(a stranger's folder, another video's output, a folder holding the input)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.console_helpers import artbandit, snapshot


@pytest.fixture()
def webapp(tmp_path: Path) -> Path:
    app = tmp_path / "webapp"
    app.mkdir()
    (app / "manifest.json").write_text(json.dumps({"name": "My App", "start_url": "/index.html"}))
    (app / "index.html").write_text("<!doctype html><script src=app.js></script>")
    (app / "app.js").write_text("console.log('hello')")
    return app


@pytest.mark.parametrize("force", [False, True])
def test_extract_never_touches_or_reports_a_web_app_folder(clips, webapp, force) -> None:
    before = snapshot(webapp)
    proc = artbandit(
        "extract",
        str(clips[0]),
        "-o",
        str(webapp),
        "-k",
        "2",
        "--mode",
        "quick",
        "--json",
        *(["--force"] if force else []),
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "not written by artbandit" in proc.stderr
    assert "My App" not in proc.stdout and "skipped" not in proc.stderr  # the stranger's manifest is not ours
    assert snapshot(webapp) == before
    assert [p.name for p in webapp.parent.iterdir() if p.name.startswith(".webapp.")] == []


def test_another_videos_output_is_never_reported_as_this_ones(clips, tmp_path) -> None:
    bikes, bunny = clips
    out = tmp_path / "out"
    assert artbandit("extract", str(bunny), "-o", str(out), "-k", "2", "--mode", "quick", "-q").returncode == 0
    bunny_manifest = (out / "manifest.json").read_text()
    proc = artbandit("extract", str(bikes), "-o", str(out), "-k", "2", "--mode", "quick", "--json")
    assert proc.returncode == 1 and "different input" in proc.stderr and "--force" in proc.stderr
    assert "bigbuckbunny" not in proc.stdout
    assert (out / "manifest.json").read_text() == bunny_manifest
    # the same video and options again: skipped, and what is reported is that video's own output
    again = artbandit("extract", str(bunny), "-o", str(out), "-k", "2", "--mode", "quick", "--json")
    assert again.returncode == 0 and "skipped" in again.stderr
    assert json.loads(again.stdout)["video"]["path"].endswith("bigbuckbunny.mp4")
    # --force replaces artbandit's own output of another video
    forced = artbandit("extract", str(bikes), "-o", str(out), "-k", "2", "--mode", "quick", "--force", "-q")
    assert forced.returncode == 0, forced.stderr
    assert json.loads((out / "manifest.json").read_text())["video"]["path"].endswith("bikes.mp4")


def test_output_may_not_be_or_contain_an_input(clips, tmp_path) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(clips[0], videos / "bikes.mp4")
    before = snapshot(videos)
    for target in (videos, tmp_path):  # holds the input, or holds the folder holding it
        proc = artbandit("extract", str(videos / "bikes.mp4"), "-o", str(target), "--mode", "quick", "--force")
        assert proc.returncode == 1 and "contains an input" in proc.stderr, proc.stderr
    assert snapshot(videos) == before
