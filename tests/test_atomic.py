"""Outputs written atomically get ordinary permissions, and a failed write leaves nothing behind."""
from __future__ import annotations

import os
import stat

import pytest

from safeio.atomic import atomic_dir, write_text_atomic


def test_atomic_outputs_get_umask_permissions(tmp_path) -> None:
    old = os.umask(0o027)
    try:
        write_text_atomic(tmp_path / "a.txt", "x")
        with atomic_dir(tmp_path / "out") as tmp:
            (tmp / "f").write_text("y")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o750


def test_failed_atomic_dir_keeps_the_old_folder_and_leaves_no_temp(tmp_path) -> None:
    final = tmp_path / "out"
    final.mkdir()
    (final / "old").write_text("keep")
    with pytest.raises(RuntimeError):
        with atomic_dir(final) as tmp:
            (tmp / "new").write_text("half")
            raise RuntimeError("boom")
    assert (final / "old").read_text() == "keep" and not (final / "new").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
