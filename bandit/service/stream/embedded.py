"""The embedded event stream: an append-only SQLite log in the state folder, no server needed.

Several processes append (each append is one transaction; SQLite lets one writer at a time in, so
sequence numbers are assigned in commit order and a reader tailing `seq > n` never skips one that
commits later). WAL with synchronous=NORMAL: an appended message survives the process that wrote it
being killed, the same guarantee as the single process's journal (docs/serve.md "Durability");
`durable=True` (`serve --durable`) makes it synchronous=FULL: an acknowledged message survives power
loss too, at an fsync per append (a ranker's group commit).

Two costs kept off the rankers' request path (measured 2026-12-07 with 2 rankers under 64 clients,
appends of 5-80 ms on a loop that answers in under 1 ms): (1) writers queue on an flock of
`stream.lock` before their transaction, so a ranker waiting for another's commit wakes the moment it
ends, instead of SQLite's busy handler sleeping 1, 2, 5, 10... ms between retries; (2) no append
moves the WAL into the database (wal_autocheckpoint off: every ~4 MB, one append would copy and
fsync it while its requests wait); the reader does, in `read`, at most every CHECKPOINT_S, without
blocking writers. Under constant appends that copy never catches up with the WAL's end, and SQLite
starts the WAL over only once all of it is in the database: so once the WAL passes WAL_RESTART_BYTES,
the reader copies the remainder (what was appended during the bulk copy) holding the writers' lock,
and the next append starts the WAL from its beginning (the file is cut back to that size). While no
reader runs (the learner is down), a writer that finds the WAL past WAL_NO_READER_BYTES checkpoints it
itself (its requests wait for that one copy), so the WAL stays bounded with or without a learner.
Snapshots are files in `snapshots/`, written to a temporary name and renamed; `current.json` names
the current one (also renamed into place), so a reader sees the old snapshot or the new, never half.
Worker statuses are small JSON files in `workers/`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from bandit.errors import BanditError
from bandit.service.journal import describe_write_error, owner_only
from safeio.atomic import write_bytes_atomic

BUSY_MS = 10_000  # how long an append waits for another process's transaction
CHECKPOINT_S = 1.0  # how often the reader (the learner) copies the WAL into the database
WAL_RESTART_BYTES = 64 << 20  # past this the reader's checkpoint makes the WAL start over (see above)
WAL_NO_READER_BYTES = 4 * WAL_RESTART_BYTES  # past this a writer checkpoints itself (no reader is doing it)
WAL_CHECK_EVERY = 256  # appends between a writer's looks at the WAL's size
TRIM_CHUNK = 5000  # messages deleted per transaction by retention (an append waits for one at most)


class EmbeddedStream:
    """`EventStream` on `<state>/stream.sqlite` (see the module docstring)."""

    def __init__(self, state: str | os.PathLike, *, durable: bool = False) -> None:
        self.path = Path(state)
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.path / "snapshots").mkdir(mode=0o700, exist_ok=True)
        (self.path / "workers").mkdir(mode=0o700, exist_ok=True)
        (self.path / "uploads").mkdir(mode=0o700, exist_ok=True)
        db_path = self.path / "stream.sqlite"
        try:
            owner_only(db_path)
            self._db = sqlite3.connect(
                str(db_path), isolation_level=None, timeout=BUSY_MS / 1000.0, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            # `serve --durable`: every append is fsynced before its requests are answered (power loss)
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._db.execute("PRAGMA wal_autocheckpoint=0")  # the reader checkpoints (see the module docstring)
            self._db.execute(f"PRAGMA journal_size_limit={WAL_RESTART_BYTES}")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS messages(seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                "time REAL NOT NULL, body BLOB NOT NULL)"
            )
            self._lock = os.open(self.path / "stream.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except (sqlite3.Error, OSError) as exc:
            raise BanditError(f"{db_path}: cannot open the event stream ({describe_write_error(exc)})") from None
        self._checkpointed = time.monotonic()
        self.checkpoints = 0  # WAL checkpoints this connection ran
        self._appends = 0

    # -- messages ----------------------------------------------------------------------------------
    def append(self, messages: list[bytes]) -> int:
        if not messages:
            return self.last_seq()
        db = self._db
        try:
            with self._writing():
                now = time.time()  # taken inside the lock: times follow sequence numbers
                db.execute("BEGIN IMMEDIATE")
                try:
                    cur = db.executemany("INSERT INTO messages(time, body) VALUES (?, ?)", [(now, m) for m in messages])
                    last = db.execute("SELECT last_insert_rowid()").fetchone()[0]
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
        except (sqlite3.Error, OSError) as exc:
            from bandit.service.journal import JournalWriteError

            raise JournalWriteError(
                f"the event stream could not be written ({describe_write_error(exc)}); nothing was acknowledged, retry"
            ) from None
        del cur
        self._appends += 1
        if self._appends % WAL_CHECK_EVERY == 0 and self._wal_bytes() > WAL_NO_READER_BYTES:
            self.checkpoint_wal()  # no reader has checkpointed (the learner is down): do not grow for ever
        return int(last)

    def _wal_bytes(self) -> int:
        try:
            return os.path.getsize(self.path / "stream.sqlite-wal")
        except FileNotFoundError:
            return 0

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the writers' lock (an flock: released by the kernel if the holder is killed)."""
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock, fcntl.LOCK_UN)

    def read(self, after: int, limit: int = 1000) -> list[tuple[int, bytes]]:
        if time.monotonic() - self._checkpointed >= CHECKPOINT_S:
            self.checkpoint_wal()
        return self._db.execute(
            "SELECT seq, body FROM messages WHERE seq > ? ORDER BY seq LIMIT ?", (int(after), int(limit))
        ).fetchall()

    def checkpoint_wal(self) -> None:
        """Copy the WAL into the database without blocking writers (PASSIVE); past WAL_RESTART_BYTES,
        copy what was appended meanwhile holding the writers' lock, so the WAL starts over."""
        self._checkpointed = time.monotonic()
        db = self._db
        db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        if self._wal_bytes() > WAL_RESTART_BYTES:
            with self._writing():  # appends wait for the few pages written during the copy above
                db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        self.checkpoints += 1

    def last_seq(self) -> int:
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name='messages'").fetchone()
        return int(row[0]) if row else 0

    def trim(self, up_to: int, older_than: float) -> int:
        """Delete messages up to `up_to` older than `older_than`. The last such message is found by
        bisecting on the sequence number (times follow sequence numbers: each is taken under the
        writers' lock), not by scanning the table under the lock: a day of retention is millions of
        rows, and every append waited for the scan. Deleted in transactions of TRIM_CHUNK messages,
        so an append waits for one chunk at most."""
        db = self._db
        first = db.execute("SELECT min(seq) FROM messages").fetchone()[0]
        if first is None:
            return 0
        last, lo, hi = None, int(first), int(up_to)
        while lo <= hi:  # the last message at or below `mid`, by the primary key
            mid = (lo + hi) // 2
            row = db.execute(
                "SELECT seq, time FROM messages WHERE seq <= ? ORDER BY seq DESC LIMIT 1", (mid,)
            ).fetchone()
            if row is not None and row[1] < older_than:
                last, lo = int(row[0]), mid + 1
            else:
                hi = mid - 1
        deleted, start = 0, int(first)
        while last is not None and start <= last:
            end = min(last, start + TRIM_CHUNK - 1)
            with self._writing():
                deleted += db.execute(
                    "DELETE FROM messages WHERE seq >= ? AND seq <= ? AND time < ?", (start, end, float(older_than))
                ).rowcount
            start = end + 1
        return deleted

    # -- snapshots ---------------------------------------------------------------------------------
    def publish_snapshot(self, meta: dict[str, Any], blob: bytes) -> None:
        folder = self.path / "snapshots"
        name = f"model-{int(meta['version']):012d}.bin"
        write_bytes_atomic(folder / name, blob, mode=0o600)
        write_bytes_atomic(folder / "current.json", orjson.dumps({**meta, "file": name}), mode=0o600)
        for old in sorted(folder.glob("model-*.bin"))[:-3]:  # a ranker may still be reading the last few
            old.unlink(missing_ok=True)

    def snapshot_meta(self) -> dict[str, Any] | None:
        try:
            return orjson.loads((self.path / "snapshots" / "current.json").read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return None

    def snapshot_blob(self, meta: dict[str, Any]) -> bytes | None:
        try:
            return (self.path / "snapshots" / str(meta["file"])).read_bytes()
        except FileNotFoundError:
            return None

    # -- uploads (PUT /model on a ranker) -------------------------------------------------------
    def put_upload(self, name: str, blob: bytes) -> None:
        write_bytes_atomic(self.path / "uploads" / name, blob, mode=0o600)

    def get_upload(self, name: str) -> bytes | None:
        try:
            return (self.path / "uploads" / name).read_bytes()
        except FileNotFoundError:
            return None

    def drop_upload(self, name: str) -> None:
        (self.path / "uploads" / name).unlink(missing_ok=True)

    # -- worker statuses ---------------------------------------------------------------------------
    def put_status(self, name: str, status: dict[str, Any]) -> None:
        path = self.path / "workers" / f"{name}.json"
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(orjson.dumps(status))
        os.replace(tmp, path)  # no fsync: a status is rewritten every second and lost with nothing

    def statuses(self) -> dict[str, dict[str, Any]]:
        out = {}
        for path in sorted((self.path / "workers").glob("*.json")):
            try:
                out[path.stem] = orjson.loads(path.read_bytes())
            except (FileNotFoundError, orjson.JSONDecodeError):
                continue
        return out

    def drop_status(self, name: str) -> None:
        (self.path / "workers" / f"{name}.json").unlink(missing_ok=True)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None  # type: ignore[assignment]
            os.close(self._lock)
