"""`artbandit extract` through the CLI: outputs, batches, skipping, and every bad input of issue 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import pytest
from click.testing import CliRunner

from artbandit.cli import cli
from imaging.decode.sample import default_sample_path, make_sample_video
from tests.extract_helpers import synthetic_frames, write_video


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    frames, _ = synthetic_frames()
    return write_video(tmp_path_factory.mktemp("cli") / "clip.mp4", frames[::2], fps=12)


def invoke(*args: str, env: dict | None = None):
    return CliRunner().invoke(cli, ["extract", *args], env=env)


def assert_one_line_error(result, *names: str) -> None:
    assert result.exit_code != 0
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("Error:")]
    assert lines, result.stderr
    assert any(all(n in ln for n in names) for ln in lines), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_single_video_writes_manifest_images_and_sheet(video: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke(str(video), "-o", str(out), "-k", "3", "--format", "png", "--json", "--quiet")
    assert result.exit_code == 0, result.stderr
    printed = json.loads(result.stdout)
    manifest = json.loads((out / "manifest.json").read_text())
    assert printed == manifest and manifest["schema"] == "artbandit.candidates/1"
    assert len(manifest["candidates"]) == 3
    assert all((out / c["file"]).is_file() and c["file"].endswith(".png") for c in manifest["candidates"])
    assert (out / "contact_sheet.png").is_file()
    assert result.stderr == ""  # --quiet


def test_batch_with_folder_equal_stems_parallel_skip_and_force(video: Path, tmp_path: Path) -> None:
    other = tmp_path / "sub"
    other.mkdir()
    (other / "clip.mp4").write_bytes(video.read_bytes())  # same stem as `video`
    (other / "notes.txt").write_text("not a video, ignored in folders")
    out = tmp_path / "out"
    result = invoke(str(video), str(other), "-o", str(out), "-k", "2", "--jobs", "2", "--mode", "quick")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["clip", "clip-2"]
    first = (out / "clip" / "manifest.json").stat().st_mtime_ns

    again = invoke(str(video), str(other), "-o", str(out), "-k", "2", "--mode", "quick", "--json")
    assert again.exit_code == 0 and again.stderr.count("skipped") == 2
    assert len(json.loads(again.stdout)) == 2
    assert (out / "clip" / "manifest.json").stat().st_mtime_ns == first

    forced = invoke(str(video), "-o", str(out / "clip"), "-k", "1", "--mode", "quick", "--force", "-q")
    assert forced.exit_code == 0
    assert len(json.loads((out / "clip" / "manifest.json").read_text())["candidates"]) == 1


def test_batch_reports_each_failure_and_goes_on(video: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_text("this is text, not H.264")
    out = tmp_path / "out"
    result = invoke(str(bad), str(video), str(tmp_path / "missing.mkv"), "-o", str(out), "-k", "2")
    assert result.exit_code == 1
    assert_one_line_error(result, "bad.mp4", "not a readable video")
    assert_one_line_error(result, "missing.mkv", "no such file")
    assert (out / "clip" / "manifest.json").is_file()
    assert not (out / "bad").exists()


def _zero_frame_video(path: Path) -> Path:
    """A well-formed Matroska file whose H.264 packets are noise: it opens, nothing decodes."""
    from fractions import Fraction

    import numpy as np

    rng = np.random.default_rng(0)
    with av.open(str(path), mode="w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        s.codec_context.open()
        for i in range(10):
            p = av.Packet(rng.integers(0, 255, 500, dtype=np.uint8).tobytes())
            p.stream, p.time_base, p.pts, p.dts = s, Fraction(1, 25), i, i
            out.mux(p)
    return path


def _audio_only(path: Path) -> Path:
    import numpy as np

    with av.open(str(path), mode="w") as out:
        s = out.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for p in s.encode(frame):
            out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


@pytest.mark.parametrize(
    "case, cause",
    [
        ("missing", "no such file"),
        ("empty_dir", "holds no video files"),
        ("text", "not a readable video"),
        ("empty", "empty file"),
        ("truncated", "not a readable video"),
        ("truncated_mkv", "truncated"),
        ("zero_frames", "no decodable video frames"),
        ("audio_only", "no video stream"),
    ],
)
def test_bad_input_gives_one_line_error_and_no_output(case: str, cause: str, video: Path, tmp_path: Path) -> None:
    target = (
        tmp_path
        / {
            "missing": "nope.mp4",
            "empty_dir": "folder",
            "text": "text.mp4",
            "empty": "empty.mp4",
            "truncated": "cut.mp4",
            "truncated_mkv": "cut.mkv",
            "zero_frames": "none.mkv",
            "audio_only": "sound.m4a",
        }[case]
    )
    if case == "empty_dir":
        target.mkdir()
        (target / "readme.txt").write_text("no videos here")
    elif case == "text":
        target.write_text("hello, I am not a video\n" * 100)
    elif case == "empty":
        target.write_bytes(b"")
    elif case == "truncated":
        target.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    elif case == "truncated_mkv":
        frames, _ = synthetic_frames()
        full = write_video(tmp_path / "full.mkv", frames, container="matroska")
        target.write_bytes(full.read_bytes()[: full.stat().st_size // 3])
    elif case == "zero_frames":
        _zero_frame_video(target)
    elif case == "audio_only":
        _audio_only(target)
    out = tmp_path / "out"
    result = invoke(str(target), "-o", str(out))
    assert_one_line_error(result, target.name, cause)
    assert not out.exists()  # nothing half-written
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_unwritable_output_is_one_line_error(video: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    result = invoke(str(video), "-o", str(blocker / "out"), "-k", "1", "--mode", "quick")
    assert_one_line_error(result, "out", "cannot write output")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    result = invoke(str(video), "-o", str(foreign), "-k", "1", "--mode", "quick")
    assert_one_line_error(result, "foreign", "not written by artbandit")
    assert (foreign / "thesis.tex").read_text() == "precious"


def test_usage_errors(tmp_path: Path) -> None:
    assert invoke("-o", str(tmp_path / "o")).exit_code == 2  # no VIDEO and no --sample
    assert invoke(str(tmp_path), "--sample", "-o", str(tmp_path / "o")).exit_code == 2
    assert invoke("x.mp4", "-o", str(tmp_path / "o"), "--mode", "fast").exit_code == 2


def test_sample_flag_uses_the_cached_sample(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = env["XDG_CACHE_HOME"]
    try:
        cached = default_sample_path()
    finally:
        if old is None:
            del os.environ["XDG_CACHE_HOME"]
        else:
            os.environ["XDG_CACHE_HOME"] = old
    assert cached.parent.parent == tmp_path / "cache"
    make_sample_video(cached, seconds=6, width=320, height=180)  # small stand-in, made the same way
    out = tmp_path / "out"
    result = invoke("--sample", "-o", str(out), "-k", "4", env=env)
    assert result.exit_code == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["video"]["path"] == str(cached)
    assert len(manifest["shots"]) == 5 and len(manifest["candidates"]) == 4


def test_console_script_has_no_traceback(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("artbandit")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "from artbandit.cli import main; main()"]
    proc = subprocess.run(
        [*cmd, "extract", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [f"Error: {tmp_path / 'missing.mp4'}: no such file or folder"]


def test_cli_copies_match_library() -> None:
    from artbandit.cli import extract as cli_extract
    from imaging.candidates.manifest import FORMATS
    from imaging.decode.video import MODES

    choices = {p.name: tuple(p.type.choices) for p in cli_extract.extract.params if hasattr(p.type, "choices")}
    assert choices == {"mode": MODES, "fmt": tuple(FORMATS)}


def test_min_count_likeness_and_the_shot_list(video: Path, tmp_path: Path) -> None:
    """Issue 26's controls: --min-count 0 keeps distinct pictures only, --likeness sets what counts as
    one; both are part of what identifies the output (another value redoes it, the same skips);
    shots.csv lies next to the manifest; out-of-range values are a one-line usage error."""
    out = tmp_path / "out"
    result = invoke(str(video), "-o", str(out), "-k", "6", "--min-count", "0", "--likeness", "0.5", "--quiet")
    assert result.exit_code == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert not any("look_alike" in c for c in manifest["candidates"])
    assert manifest["shot_list"] == "shots.csv"
    rows = (out / "shots.csv").read_text().splitlines()
    assert rows[0].startswith("shot,start_frame,end_frame") and len(rows) == 1 + len(manifest["shots"])
    marker = json.loads((out / ".artbandit-output.json").read_text())
    assert marker["input_key"]["min_count"] == 0 and marker["input_key"]["likeness"] == 0.5
    again = invoke(str(video), "-o", str(out), "-k", "6", "--min-count", "0", "--likeness", "0.5")
    assert again.exit_code == 0 and "skipped" in again.stderr
    other = invoke(str(video), "-o", str(out), "-k", "6", "--quiet")
    assert other.exit_code != 0 and "--force" in other.stderr
    for bad in (["--likeness", "0"], ["--likeness", "1.5"], ["--min-count", "-1"]):
        r = invoke(str(video), "-o", str(tmp_path / "bad"), *bad)
        assert r.exit_code == 2 and "Traceback" not in r.stderr + r.stdout
        assert not (tmp_path / "bad").exists()


def test_force_keeps_the_users_files(video: Path, tmp_path: Path) -> None:
    # issue 27: `extract v.mp4 -o e; echo n > e/notes.txt; extract v.mp4 -o e --force` deleted notes.txt
    out = tmp_path / "e"
    assert invoke(str(video), "-o", str(out), "-k", "2", "--mode", "quick", "-q").exit_code == 0
    (out / "notes.txt").write_text("n\n")
    forced = invoke(str(video), "-o", str(out), "-k", "1", "--mode", "quick", "-q", "--force")
    assert forced.exit_code == 0, forced.stderr
    assert (out / "notes.txt").read_text() == "n\n"
    manifest = json.loads((out / "manifest.json").read_text())
    written = {c["file"] for c in manifest["candidates"]} | {
        "manifest.json",
        "contact_sheet.png",
        manifest["shot_list"],
    }
    # the first run's second candidate is gone: only the new output and the user's file are there
    assert {p.name for p in out.iterdir()} == written | {"notes.txt", ".artbandit-output.json"}
