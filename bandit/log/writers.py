"""Who is writing an event log: one row per open writer in the log's `writers` table, and a lock file
per writer that its process holds for as long as it runs.

Why lock files: a writer killed with SIGKILL never says goodbye, and pids are reused (in a container
every restart is pid 1). The kernel releases a `flock` when its process dies, whatever the pid, so
"I can take its lock" is exactly "that writer is gone" on this machine. A restarted process claims the
unrewarded events of writers that are gone (see EventLog.claim_pending) and no one else's.

The lock files live in `.<log name>.writers/` next to the log (0700, files 0600), removed when the last writer closes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from pathlib import Path


def lock_dir(log_path: Path) -> Path:
    return log_path.parent / f".{log_path.name}.writers"


class WriterLock:
    """This writer's lock file, held (flock LOCK_EX) from creation until `release`."""

    def __init__(self, log_path: Path) -> None:
        self.dir = lock_dir(log_path)
        self.dir.mkdir(mode=0o700, exist_ok=True)
        self.token = secrets.token_hex(16)
        self.path = self.dir / self.token
        self._fd: int | None = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)  # closing drops the lock
        self._fd = None
        with contextlib.suppress(OSError):
            self.dir.rmdir()  # only when no other writer's file is left


def writer_gone(log_path: Path, token: str) -> bool:
    """True when the writer with lock `token` no longer runs (its lock is free or its file is gone).
    A gone writer's file is removed."""
    if not token or "/" in token or token.startswith("."):
        return True
    path = lock_dir(log_path) / token
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):
        path.unlink()
    return True
