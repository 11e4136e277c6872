"""safeio.outdir: the output folders artbandit owns, and the files a user put in them kept on a rebuild."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from safeio import OutputFolder, OutputFolderError, atomic_dir
from safeio.outdir import MARKER, output_files


def test_output_folder_rules(tmp_path: Path) -> None:
    video = tmp_path / "in.mp4"
    video.write_bytes(b"x")
    # a stranger's folder is never replaced, with or without force
    foreign = tmp_path / "webapp"
    foreign.mkdir()
    (foreign / "index.html").write_text("<html>")
    for force in (False, True):
        with pytest.raises(OutputFolderError, match="not written by artbandit"):
            OutputFolder(foreign, "extract", [video], "k").check(force=force)
    assert (foreign / "index.html").exists()
    # an output folder may not be or contain an input
    with pytest.raises(OutputFolderError, match="contains an input"):
        OutputFolder(tmp_path, "extract", [video]).check()
    with pytest.raises(OutputFolderError, match="is an input"):
        OutputFolder(foreign, "variants", [foreign]).check(force=True)
    # our own output: same input -> "same"; other input -> refused unless forced; other kind refused
    out = tmp_path / "out"
    spec = OutputFolder(out, "extract", [video], {"video": "in.mp4", "k": 8})
    assert spec.check() == "new"
    with atomic_dir(out) as tmp:
        spec.write_marker(tmp)
        (tmp / "manifest.json").write_text("{}")
    assert spec.check() == "same"
    other = OutputFolder(out, "extract", [video], {"video": "other.mp4", "k": 8})
    with pytest.raises(OutputFolderError, match="different input"):
        other.check()
    assert other.check(force=True) == "replace"
    with pytest.raises(OutputFolderError, match="'extract' output, not 'replay'"):
        OutputFolder(out, "replay", [video]).check(force=True)
    os.remove(out / ".artbandit-output.json")
    with pytest.raises(OutputFolderError, match="not written by artbandit"):
        spec.check(force=True)


def test_replacing_an_output_keeps_the_files_artbandit_did_not_write(tmp_path: Path) -> None:
    # the one rule of every --force (issue 27): what artbandit wrote is replaced, the user's files stay
    final = tmp_path / "out"
    folder = OutputFolder(final, "extract", [], "k1")
    with atomic_dir(final) as tmp:
        (tmp / "cand_1.jpg").write_text("old")
        (tmp / "sheets").mkdir()
        (tmp / "sheets" / "a.png").write_text("old")
        folder.write_marker(tmp)
    assert json.loads((final / MARKER).read_text())["files"] == ["cand_1.jpg", "sheets/a.png"]
    (final / "notes.txt").write_text("mine")
    (final / "mine").mkdir()
    (final / "mine" / "x.txt").write_text("mine too")
    (final / "sheets" / "b.txt").write_text("mine, inside an output folder")
    assert folder.foreign_files() == ["mine/x.txt", "notes.txt", "sheets/b.txt"]
    assert OutputFolder(final, "extract", [], "k2").check(force=True) == "replace"
    with atomic_dir(final) as tmp:
        (tmp / "cand_2.jpg").write_text("new")
        (tmp / "notes.txt").write_text("the new output uses this name")
        OutputFolder(final, "extract", [], "k2").write_marker(tmp)
    assert output_files(final) == ["cand_2.jpg", "mine/x.txt", "notes.txt", "notes.txt.kept", "sheets/b.txt"]
    assert (final / "notes.txt.kept").read_text() == "mine"
    assert (final / "mine" / "x.txt").read_text() == "mine too"
    # the stale output files (cand_1.jpg, sheets/a.png) are gone; the kept ones are still the user's
    assert json.loads((final / MARKER).read_text())["files"] == ["cand_2.jpg", "notes.txt"]
    assert folder.foreign_files() == ["mine/x.txt", "notes.txt.kept", "sheets/b.txt"]
    # a folder written in place (the demo's): cleared but for the user's files
    OutputFolder(final, "extract", [], "k2").clear_own(folder.foreign_files())
    assert output_files(final) == ["mine/x.txt", "notes.txt.kept", "sheets/b.txt"]
    # a marker written before markers listed files: the whole folder was artbandit's, as before
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / MARKER).write_text(json.dumps({"schema": "artbandit.output/1", "kind": "extract", "input_key": 1}))
    (legacy / "x.jpg").write_text("x")
    assert OutputFolder(legacy, "extract").foreign_files() == []
