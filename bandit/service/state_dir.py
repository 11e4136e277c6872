"""A decision service's state folder: the lock, the configuration and the model checkpoints.

Layout (owner-only, 0700):
  serve-state.json        marker: this folder belongs to a decision service (a stranger's folder is refused)
  lock                    held (flock) by the one process serving this folder; holds its pid
  config.json             service configuration and policy arguments (atomic writes)
  journal.sqlite          every rank/reward/activation/close in order (bandit.service.journal): the truth
  events.sqlite           joined decisions for replay and evaluation (bandit.log.eventlog), derived
  checkpoints/ckpt-<seq>-<ns>/ a saved model that has learned every close up to journal seq <seq>
  checkpoints/current.json  which checkpoint is current, written atomically after the journal
                          holds every record up to its seq

Why checkpoints are named by journal position: a restart loads the current one and re-learns the
closes after it, so a checkpoint is only ever published once the journal records it depends on are
committed; an unpublished checkpoint folder left by a crash is ignored and removed.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

from bandit.errors import BanditError
from safeio.atomic import write_text_atomic

MARKER = "serve-state.json"
SCHEMA = "artbandit.serve-state/1"
# safeio.atomic's temporaries: files `.<name>.<mkstemp's random>.tmp`, folders `.<name>.abtmp|abold-<pid>-<hex>`
_TEMP_FILE = re.compile(r"\.(serve-state\.json|config\.json|current\.json)\.[A-Za-z0-9_]{1,32}\.tmp")
_TEMP_CKPT = re.compile(r"\.ckpt-[0-9]+-[0-9]+\.(abtmp|abold)-[0-9]+-[0-9a-f]+")


class StateDir:
    """Opens (creating if needed) and locks a state folder; paths and small atomic files in it."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise BanditError(f"{self.path}: exists and is not a folder")
        if self.path.is_dir() and any(self.path.iterdir()) and not (self.path / MARKER).is_file():
            raise BanditError(
                f"{self.path}: not an artbandit serve state folder (no {MARKER}); choose an empty or new folder"
            )
        created = not self.path.exists()
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if created:
            os.chmod(self.path, 0o700)
        self._lock_fh = open(os.open(self.path / "lock", os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600), "a+")
        try:
            fcntl.flock(self._lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_fh.seek(0)
            holder = self._lock_fh.read().strip() or "?"
            self._lock_fh.close()
            raise BanditError(
                f"{self.path}: already in use by another artbandit service (pid {holder}); "
                "stop it first or choose another --state folder"
            ) from None
        self._lock_fh.seek(0)
        self._lock_fh.truncate()
        self._lock_fh.write(str(os.getpid()))
        self._lock_fh.flush()
        if not (self.path / MARKER).is_file():
            write_text_atomic(self.path / MARKER, json.dumps({"schema": SCHEMA}), mode=0o600)
        self.checkpoints.mkdir(mode=0o700, exist_ok=True)
        self.remove_temporaries()

    def remove_temporaries(self) -> list[str]:
        """Remove what a killed process left half-written: safeio's temporary files of this folder's
        own small files (`.current.json.<random>.tmp`, ...) and temporary or set-aside checkpoint
        folders (`.ckpt-<seq>-<ns>.abtmp-<pid>-<hex>`). Safe because the lock is held: no other
        process writes here. Only names of exactly those patterns are touched. Returns them."""
        removed = []
        for folder in (self.path, self.checkpoints):
            for entry in folder.iterdir():
                if _TEMP_FILE.fullmatch(entry.name) and entry.is_file() and not entry.is_symlink():
                    entry.unlink(missing_ok=True)
                elif _TEMP_CKPT.fullmatch(entry.name) and folder == self.checkpoints and entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    continue
                removed.append(entry.name)
        return removed

    journal_path = property(lambda self: self.path / "journal.sqlite")
    events_path = property(lambda self: self.path / "events.sqlite")
    config_path = property(lambda self: self.path / "config.json")
    checkpoints = property(lambda self: self.path / "checkpoints")

    def read_config(self) -> dict[str, Any]:
        try:
            data = json.loads(self.config_path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise BanditError(f"{self.config_path}: unreadable ({exc})") from None
        if not isinstance(data, dict):
            raise BanditError(f"{self.config_path}: not a configuration object")
        return data

    def write_config(self, data: dict[str, Any]) -> None:
        write_text_atomic(self.config_path, json.dumps(data, indent=1, sort_keys=True), mode=0o600)

    # -- checkpoints ---------------------------------------------------------------------------
    def checkpoint_dir(self, seq: int) -> Path:
        """A new checkpoint folder name: journal position, then creation time (names sort by age;
        never the current folder, even when the journal has not moved since)."""
        return self.checkpoints / f"ckpt-{seq:012d}-{time.time_ns():020d}"

    def current_checkpoint(self) -> tuple[Path, dict[str, Any]] | None:
        """(folder, metadata) of the published checkpoint, or None before the first one."""
        current = self.checkpoints / "current.json"
        try:
            meta = json.loads(current.read_text("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise BanditError(f"{current}: unreadable ({exc})") from None
        folder = self.checkpoints / str(meta.get("dir", ""))
        if not folder.is_dir() or "/" in str(meta.get("dir")):
            raise BanditError(f"{current}: names a checkpoint that is missing ({meta.get('dir')!r})")
        return folder, meta

    def publish_checkpoint(self, folder: Path, meta: dict[str, Any]) -> None:
        """Make `folder` the current checkpoint (atomically), then remove every other one."""
        write_text_atomic(self.checkpoints / "current.json", json.dumps({**meta, "dir": folder.name}), mode=0o600)
        self.remove_stale_checkpoints(keep=folder.name, older_only=True)

    def remove_stale_checkpoints(self, keep: str | None, older_only: bool = False) -> None:
        """Remove checkpoint folders other than `keep` (only older ones with `older_only`: a newer
        one may be waiting to be published)."""
        for entry in self.checkpoints.iterdir():
            if not (entry.is_dir() and entry.name.startswith("ckpt-")) or entry.name == keep:
                continue
            if older_only and keep is not None and entry.name > keep:
                continue
            shutil.rmtree(entry, ignore_errors=True)

    @property
    def locked(self) -> bool:
        """Whether this process still holds the folder's lock (True from opening until close()):
        whoever started a service knows from it whether the service was shut down yet."""
        return not self._lock_fh.closed

    def close(self) -> None:
        if self.locked:
            fcntl.flock(self._lock_fh, fcntl.LOCK_UN)
            self._lock_fh.close()
