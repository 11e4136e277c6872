"""The decision journal: every rank, reward, activation and close, in order, in one SQLite file.

Why a journal besides the event log (bandit.log.eventlog): the event log holds *joined* decisions (the
decision plus its final reward), which is what replay and off-policy evaluation read. A service must
also keep what is still open, every individual reward (averaged or summed later) and activations,
and it must know the exact order in which events were learned, so that a restart can rebuild the
open events and re-learn, in the same order, everything that closed after the last checkpoint.
The journal is that raw, append-only stream; the event log is derived from it.

Records: (seq, kind, event_id, time, body) with kind one of rank | reward | activate | close and
body a small JSON object (orjson bytes). `seq` is assigned by the writer, in the order the in-memory
state changed, so journal order is learning order. Candidate action lists repeat (a title's
variants), so each distinct list is written once as a `set` record (event id '') and rank records
refer to it by its seq: a rank record is then mostly its context.

Group commit: callers `add` records (cheap, in memory) and `take` a batch that one `write` commits in
a single transaction; a service acknowledges a request only after the batch holding its records is
written. WAL with synchronous=NORMAL: a committed batch survives a process crash (SIGKILL); after a
power loss the last batches committed before the OS flushed its cache can be lost (see docs/serve.md);
`durable=True` (synchronous=FULL) closes that gap at the cost of an fsync per batch.
"""

from __future__ import annotations

import errno
import hashlib
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterator

import orjson

from bandit.cache import TextCache
from bandit.errors import BanditError
from safeio.errors import one_line

SCHEMA = "artbandit.journal/1"
KINDS = ("set", "rank", "reward", "activate", "close")
MAX_CACHED_SETS = 50_000  # action lists remembered (by a 16-byte digest: ~150 bytes each)
MAX_SET_LIST_BYTES = 32 << 20  # parsed action lists kept while recovery reads the journal
SET_LIST_FACTOR = 6  # bytes of parsed lists per byte of their JSON (estimate)

_DDL = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records(
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    event_id TEXT NOT NULL,
    time REAL NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS records_event ON records(event_id, kind);
"""

Record = tuple[int, str, str, float, bytes]
WAL_LIMIT = 4 << 20  # bytes the WAL file is truncated to whenever SQLite restarts it
WAL_BUSY_MS = 200  # how long a WAL checkpoint waits for the writer's transaction


class JournalWriteError(BanditError):
    """A batch could not be committed (disk full, I/O error); it stays buffered and is retried."""


def is_disk_full(exc: BaseException) -> bool:
    """Whether an error means the disk (or the file size limit) is full."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return True
    return (
        isinstance(exc, sqlite3.Error)
        and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
        or "database or disk is full" in str(exc)
    )


def describe_write_error(exc: BaseException) -> str:
    """One line for a failed write: 'disk full' said plainly when it is."""
    if is_disk_full(exc):
        return "disk full"
    return one_line(exc, typed=True)


def owner_only(path: Path, *, create: bool = True) -> None:
    """Make `path` 0600, creating it empty first if asked (SQLite then gives its WAL and shared-
    memory files the same mode): journals hold viewers' contexts (docs/privacy.md)."""
    if create and not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    try:
        os.chmod(path, 0o600)
    except FileNotFoundError:
        pass


def _rollback(db: sqlite3.Connection) -> None:
    """Roll back if a transaction is still open. SQLite rolls back by itself after some errors (a
    full disk), and a second ROLLBACK ('no transaction is active') used to hide the real error."""
    if db.in_transaction:
        try:
            db.execute("ROLLBACK")
        except sqlite3.Error:
            pass


class RecordBuffer:
    """Records waiting for the group commit: what the committer takes, retries and counts. The journal
    and a ranker's stream stand-in (bandit.service.stream.ranker) differ only in how `write` stores them."""

    def __init__(self) -> None:
        self._buffer: list[Any] = []

    def take(self) -> list[Any]:
        """The buffered records (handed to `write`, possibly on another thread)."""
        batch, self._buffer = self._buffer, []
        return batch

    def requeue(self, batch: list[Any]) -> None:
        """Put a batch that failed to write back in front of the buffer (retried next commit)."""
        self._buffer[:0] = batch

    @property
    def buffered(self) -> int:
        return len(self._buffer)


class Journal(RecordBuffer):
    """Append-only records with writer-assigned sequence numbers, committed in batches."""

    def __init__(self, path: str | os.PathLike, *, durable: bool = False, manual_wal_checkpoints: bool = False) -> None:
        self.path = Path(path)
        try:
            owner_only(self.path)
            self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            # after a checkpoint resets the WAL, SQLite truncates the file to this size (it otherwise
            # stays at its largest, and grew by ~22 KB per event while checkpoints lagged)
            self._db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            if manual_wal_checkpoints:  # see checkpoint_wal
                self._db.execute("PRAGMA wal_autocheckpoint=0")
            self._db.executescript(_DDL)
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA,))
            row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            last = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM records").fetchone()[0]
        except (sqlite3.DatabaseError, OSError) as exc:
            if is_disk_full(exc):
                raise BanditError(
                    f"{self.path}: disk full: the journal cannot be opened for writing; free some space and start again"
                ) from None
            if isinstance(exc, OSError):
                raise BanditError(f"{self.path}: cannot open the journal ({exc.strerror})") from None
            raise BanditError(f"{self.path}: not an artbandit journal ({exc})") from None
        if row is None or row[0] != SCHEMA:
            raise BanditError(f"{self.path}: not an artbandit journal (schema {row and row[0]!r})")
        for suffix in ("-wal", "-shm"):  # SQLite gives them the database's mode; older folders: 0644
            owner_only(Path(str(self.path) + suffix), create=False)
        self._lock = threading.Lock()  # the connection is shared by the writer and readers
        self.last_seq = int(last)  # the last sequence number handed out
        self.committed_seq = int(last)  # the last sequence number known to be on disk
        super().__init__()
        self._set_seqs: dict[bytes, int] = {}  # digest of an action list's JSON -> seq of its set record
        self._set_lists = TextCache(MAX_CACHED_SETS, MAX_SET_LIST_BYTES)  # seq -> action list (reading back)

    # -- writing -------------------------------------------------------------------------------
    def add(self, kind: str, event_id: str, time: float, body: dict[str, Any] | None = None) -> int:
        """Buffer one record; returns its sequence number."""
        self.last_seq += 1
        self._buffer.append((self.last_seq, kind, event_id, time, orjson.dumps(body or {})))
        return self.last_seq

    def action_set(self, actions: list) -> int:
        """The seq of the set record holding this action list (buffering one if it is new)."""
        body = orjson.dumps(actions)
        key = hashlib.blake2b(body, digest_size=16).digest()  # 16 bytes, however long the list
        seq = self._set_seqs.get(key)
        if seq is None:
            if len(self._set_seqs) >= MAX_CACHED_SETS:
                self._set_seqs.clear()  # a list seen again later is simply written again
            self.last_seq += 1
            seq = self._set_seqs[key] = self.last_seq
            self._buffer.append((seq, "set", "", 0.0, body))
        return seq

    def actions_of(self, set_seq: int) -> list:
        """The action list of a set record (committed)."""
        actions = self._set_lists.get(set_seq)
        if actions is None:
            with self._lock:
                row = self._db.execute("SELECT body FROM records WHERE seq=? AND kind='set'", (set_seq,)).fetchone()
            if row is None:
                raise BanditError(f"{self.path}: a rank record refers to missing action set {set_seq}")
            actions = orjson.loads(row[0])
            self._set_lists.put(set_seq, actions, SET_LIST_FACTOR * len(row[0]))
        return actions

    def write(
        self,
        batch: list[Record],
        *,
        stream_seq: int | None = None,
        change_outcomes: dict[str, str | None] | None = None,
    ) -> None:
        """Commit a batch in one transaction (group commit). `stream_seq`: the position of the event
        stream this batch was learned up to (bandit.service.stream's learner), committed in the same
        transaction, so a restarted learner resumes exactly after what its journal holds;
        `change_outcomes`: the learner's recent change outcomes, committed with the position of the
        change they include, so a learner killed before it published them still knows them."""
        if not batch and stream_seq is None:
            return
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN")
                try:
                    db.executemany("INSERT INTO records(seq, kind, event_id, time, body) VALUES (?,?,?,?,?)", batch)
                    if stream_seq is not None:
                        db.execute("INSERT OR REPLACE INTO meta VALUES ('stream_seq', ?)", (str(int(stream_seq)),))
                    if change_outcomes is not None:
                        db.execute(
                            "INSERT OR REPLACE INTO meta VALUES ('change_outcomes', ?)",
                            (orjson.dumps(change_outcomes).decode(),),
                        )
                    db.execute("COMMIT")
                except BaseException:
                    _rollback(db)
                    raise
            except (sqlite3.Error, OSError) as exc:
                raise JournalWriteError(
                    f"the journal could not be written ({describe_write_error(exc)}); nothing was lost, retry"
                ) from None
            if batch:
                self.committed_seq = batch[-1][0]

    def stream_seq(self) -> int:
        """The event-stream position the committed records were learned up to (0: none)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key='stream_seq'").fetchone()
        return int(row[0]) if row else 0

    def change_outcomes(self) -> dict[str, str | None]:
        """The change outcomes the last change's commit held (stream seq -> error, None: applied)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key='change_outcomes'").fetchone()
        return dict(orjson.loads(row[0])) if row else {}

    def commit(self) -> None:
        """Write everything buffered now (library use: one call per request)."""
        self.write(self.take())

    def delete_closed(self, up_to_seq: int, ranked_before: float | None = None) -> int:
        """Delete every record of the events that closed at or before `up_to_seq` (and, if given,
        were ranked before `ranked_before`). Open events keep every record. Returns how many went."""
        with self._lock:
            db = self._db
            db.execute("BEGIN")
            try:
                db.execute("CREATE TEMP TABLE IF NOT EXISTS gone(event_id TEXT PRIMARY KEY)")
                db.execute("DELETE FROM gone")
                query = "INSERT OR IGNORE INTO gone SELECT event_id FROM records WHERE kind='close' AND seq <= ?"
                args: tuple = (up_to_seq,)
                if ranked_before is not None:
                    query += " AND event_id IN (SELECT event_id FROM records WHERE kind='rank' AND time < ?)"
                    args += (ranked_before,)
                db.execute(query, args)
                cur = db.execute("DELETE FROM records WHERE event_id IN (SELECT event_id FROM gone)")
                db.execute("COMMIT")
            except BaseException:
                _rollback(db)
                raise
            return cur.rowcount

    def checkpoint_wal(self) -> None:
        """Copy the write-ahead log into the database file and truncate it, from a connection of its own.

        Why: SQLite normally does this inside a commit every 1000 pages, and it syncs the file, so
        one commit in a thousand takes tens of milliseconds. A server that commits on its event loop
        turns that off (manual_wal_checkpoints) and calls this on another thread instead. PASSIVE
        checkpoints (never blocking the writer) rarely finished under steady traffic, so the WAL was
        never restarted and grew with every event; TRUNCATE waits for the writer's current
        transaction (at most WAL_BUSY_MS, else it is skipped until the next call), copies every frame
        and empties the file: the writer then waits only for that copy (milliseconds)."""
        db = sqlite3.connect(str(self.path), isolation_level=None, timeout=WAL_BUSY_MS / 1000.0)
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.OperationalError:
            pass  # busy: the next call tries again
        finally:
            db.close()

    def disk_bytes(self) -> int:
        """Bytes the journal takes on disk: the database, its WAL and its shared-memory index."""
        total = 0
        for suffix in ("", "-wal", "-shm"):
            try:
                total += os.stat(str(self.path) + suffix).st_size
            except FileNotFoundError:
                pass
        return total

    # -- reading -------------------------------------------------------------------------------
    def records(self, after_seq: int = 0, batch_size: int = 5000) -> Iterator[tuple[int, str, str, float, dict]]:
        """Committed records with seq > after_seq, in order, bodies decoded."""
        last = after_seq
        while True:
            with self._lock:
                rows = self._db.execute(
                    "SELECT seq, kind, event_id, time, body FROM records WHERE seq > ? ORDER BY seq LIMIT ?",
                    (last, batch_size),
                ).fetchall()
            if not rows:
                return
            for seq, kind, event_id, time, body in rows:
                yield seq, kind, event_id, time, orjson.loads(body)
            last = rows[-1][0]

    def kinds_of(self, event_id: str, *, slots: bool = False) -> set[str]:
        """Which kinds of record the journal holds for an event (committed ones); with `slots`,
        for the slots of a multi-slot event (ids '<event>#<slot>')."""
        with self._lock:
            if slots:  # a range on the index: '$' is the character after '#'
                rows = self._db.execute(
                    "SELECT DISTINCT kind FROM records WHERE event_id > ? AND event_id < ?",
                    (event_id + "#", event_id + "$"),
                ).fetchall()
            else:
                rows = self._db.execute("SELECT DISTINCT kind FROM records WHERE event_id=?", (event_id,)).fetchall()
        return {r[0] for r in rows}

    def close_reason(self, event_id: str) -> str | None:
        """Why a (committed) event closed: rewarded | defaulted | not-activated; None if it did not."""
        with self._lock:
            row = self._db.execute("SELECT body FROM records WHERE event_id=? AND kind='close'", (event_id,)).fetchone()
        return None if row is None else orjson.loads(row[0]).get("why")

    def properties(self) -> dict[str, Any]:
        """Record count and the time range of ranks (for GET /logs/properties)."""
        with self._lock:
            n, first, last = self._db.execute(
                "SELECT COUNT(*), MIN(time), MAX(time) FROM records WHERE kind='rank'"
            ).fetchone()
            total = self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file())
        return {"ranks": n, "records": total, "first_time": first, "last_time": last, "bytes": size}

    def close(self) -> None:
        if self._db is not None:
            self.commit()
            self._db.close()
            self._db = None  # type: ignore[assignment]
