"""Write outputs so that a crash or error never leaves a half-written file or folder behind.

Files: written to a temporary sibling, then renamed over the target (rename is atomic on POSIX).

Folders: built whole in a temporary sibling, then swapped in. Where the kernel offers it (Linux
`renameat2(RENAME_EXCHANGE)`), the new and the old folder trade places in one atomic step, so the
path always holds a complete folder. Elsewhere the old folder is first renamed aside; a crash
between the two renames is repaired by `recover_dir` (called before every swap and by readers),
which puts the old folder back. Temporaries left by a killed process are named after its pid and
removed by the next swap once that process is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from safeio.outdir import MARKER, carry_foreign_files

_TMP_TAG = "abtmp"
_OLD_TAG = "abold"


def _umask() -> int:
    """The process umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _default_mode(kind: str) -> int:
    # mkstemp/mkdtemp create private 0600/0700 entries; outputs are meant to be shared like any file
    # the user writes, so by default they get the permissions that open()/mkdir() would give them.
    return (0o666 if kind == "file" else 0o777) & ~_umask()


def write_bytes_atomic(path: str | os.PathLike, data: bytes, *, mode: int | None = None) -> None:
    """Write `data` to `path` via a temporary file in the same folder, then rename over it."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _default_mode("file") if mode is None else mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | os.PathLike, text: str, *, mode: int | None = None) -> None:
    """Text version of `write_bytes_atomic` (UTF-8)."""
    write_bytes_atomic(path, text.encode("utf-8"), mode=mode)


def pid_alive(pid: int) -> bool:
    """Whether `pid` is a running process. A zombie counts as dead: in a container whose pid 1 does
    not reap orphans, a killed process can stay a zombie indefinitely, and its temporaries must
    still be cleaned."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (not Linux): kill(0) is all we can know
    return state not in (b"Z", b"X")


def _sibling(final: Path, tag: str) -> Path:
    return final.parent / f".{final.name}.{tag}-{os.getpid()}-{secrets.token_hex(4)}"


def _owner_pid(entry: Path, final: Path, tag: str) -> int | None:
    prefix = f".{final.name}.{tag}-"
    if not entry.name.startswith(prefix):
        return None
    pid_text = entry.name[len(prefix) :].split("-", 1)[0]
    return int(pid_text) if pid_text.isdigit() else None


def recover_dir(final: str | os.PathLike) -> None:
    """Repair what a killed swap left next to `final`: restore a set-aside old folder if `final` is
    missing, and remove temporaries of processes that no longer run. Touches only entries named
    by this module's own pattern."""
    final = Path(final)
    if not final.parent.is_dir():
        return
    olds: list[Path] = []
    for entry in final.parent.iterdir():
        for tag in (_TMP_TAG, _OLD_TAG):
            pid = _owner_pid(entry, final, tag)
            if pid is None or (pid != os.getpid() and pid_alive(pid)):
                continue
            if tag == _OLD_TAG:
                olds.append(entry)
            else:
                shutil.rmtree(entry, ignore_errors=True)
    for old in olds:
        if not final.exists() and (old / "previous").is_dir():
            os.replace(old / "previous", final)
        shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    try:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return rc == 0


def swap_dir_into_place(tmp: Path, final: Path) -> None:
    """Make the complete folder `tmp` become `final`; the old `final` (if any) is removed after."""
    if not final.exists():
        os.replace(tmp, final)
        return
    if _exchange(tmp, final):
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old folder
        return
    old = _sibling(final, _OLD_TAG)
    old.mkdir()
    os.replace(final, old / "previous")
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike, *, mode: int | None = None) -> Iterator[Path]:
    """Yield a fresh temporary folder next to `final`; on success it replaces `final` whole, except
    that an artbandit output (a marker in the new folder) keeps the user's files of the old one
    (`safeio.outdir.carry_foreign_files`).

    On any error the temporary folder is removed and `final` (if it existed) is untouched. `mode`
    sets the folder's permissions (default: what mkdir would give; 0o700 for private data).
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    recover_dir(final)
    tmp = _sibling(final, _TMP_TAG)
    tmp.mkdir()
    os.chmod(tmp, _default_mode("dir") if mode is None else mode)
    try:
        yield tmp
        if (tmp / MARKER).is_file():  # an artbandit output folder: the user's files in it stay
            carry_foreign_files(tmp, final)
        swap_dir_into_place(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
