"""safeio.atomic: folder swaps that never leave the path empty, outputs with ordinary permissions, and a
failed write that leaves nothing behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from safeio.atomic import atomic_dir, recover_dir, write_text_atomic


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


def test_atomic_dir_replaces_whole_and_keeps_mode(tmp_path: Path) -> None:
    final = tmp_path / "model"
    with atomic_dir(final, mode=0o700) as tmp:
        (tmp / "a").write_text("1")
    with atomic_dir(final, mode=0o700) as tmp:
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in final.iterdir()) == ["b"]
    assert final.stat().st_mode & 0o777 == 0o700
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_failed_build_leaves_old_folder(tmp_path: Path) -> None:
    final = tmp_path / "out"
    with atomic_dir(final) as tmp:
        (tmp / "v1").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(final) as tmp:
        (tmp / "v2").write_text("2")
        raise RuntimeError("boom")
    assert sorted(p.name for p in final.iterdir()) == ["v1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_recover_restores_set_aside_folder_of_a_dead_process(tmp_path: Path) -> None:
    # What the two-rename fallback leaves when killed between its renames: no `out`, the old one aside.
    dead_pid = 2**22 + 12345  # above pid_max on Linux: never a live process
    old = tmp_path / f".out.abold-{dead_pid}-abcd"
    (old / "previous").mkdir(parents=True)
    (old / "previous" / "v1").write_text("1")
    stale_tmp = tmp_path / f".out.abtmp-{dead_pid}-ef01"
    stale_tmp.mkdir()
    stranger = tmp_path / ".out.somebody-elses"
    stranger.mkdir()
    recover_dir(tmp_path / "out")
    assert (tmp_path / "out" / "v1").read_text() == "1"
    assert not old.exists() and not stale_tmp.exists()
    assert stranger.exists()


def test_a_zombie_counts_as_dead_so_its_temporaries_are_cleaned(tmp_path: Path) -> None:
    # In a container whose pid 1 never reaps orphans, a killed worker stays a zombie: kill(pid, 0)
    # still succeeds, yet its temporaries must go.
    from safeio.atomic import pid_alive

    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:
        import time

        for _ in range(200):  # wait until the child has exited (and is a zombie: not reaped yet)
            with open(f"/proc/{pid}/stat", "rb") as fh:
                if fh.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    break
            time.sleep(0.01)
        stale = tmp_path / f".out.abtmp-{pid}-0000"
        stale.mkdir()
        assert not pid_alive(pid)
        recover_dir(tmp_path / "out")
        assert not stale.exists()
        assert pid_alive(os.getpid())
    finally:
        os.waitpid(pid, 0)
