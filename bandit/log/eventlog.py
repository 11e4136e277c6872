"""The propensity-logged event store: one SQLite row per decision, written in WAL mode.

Why SQLite: one file, crash-safe transactions, readable by any tool while writers append. Rows are
buffered and committed by a background thread at most `commit_interval_s` (default 0.2 s) after they
were buffered, when a batch fills up, on `flush()`/`close()`, and at interpreter exit. On a loaded
machine that thread can fall behind (it shares the GIL and the CPU with the caller), so the writing
call itself commits once `max_uncommitted` rows (default 1,024) are not yet committed or the oldest
of them is `max_delay_s` old (default 0.5 s): a SIGKILL loses at most that many rows, never a
committed event.

Many writers: several processes may append to one log at once. Each commit is one `BEGIN IMMEDIATE`
transaction, candidate-set ids are allocated by the database inside it, and every row carries the id
of the writer that logged it (`writers` table), so rewards only ever update their own writer's rows.
A writer that died (SIGKILL, crash) leaves unrewarded rows behind; the next writer to open the log
claims them (`claim_pending`) so their late rewards still learn (see bandit.log.writers for how "died" is
known).

Tables:
  events(seq, event_id UNIQUE, time, model_version, policy, user, context, action_set, pmf,
         chosen_index, action_id, probability, reward, reward_time, defaulted, writer)
  action_sets(id, actions)  -- actions: JSON [{"id", "features"}] in the order given to the policy
  writers(id, token, pid, started)
  drift_events(id, time, writer, direction, statistic, threshold, floor, boost_events, n_learned, event_id)
    -- what a live Personalizer detected (bandit.policies.drift) and did; no user, no context
`user` is the keyed hash of the caller's user id (see bandit.privacy), never the raw id. The file is
created owner-only (0600): it holds contexts.

Over 400 lines on purpose: buffering, the commit transaction and the readers share one connection,
its two locks and the buffers (decisions, rewards, drift events); split, each half would reach into
the other's private state. The schema and row types live in bandit.log.schema, export in bandit.log.export.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sqlite3
import threading
import time as _time
import warnings
import weakref
from pathlib import Path
from typing import IO, Any, Iterator, Sequence

import orjson

from bandit.cache import TextCache
from bandit.errors import BanditError
from bandit.log import jsontext
from bandit.log.export import EXPORT_FORMATS, export_events  # noqa: F401  (EXPORT_FORMATS: public)
from bandit.log.schema import (  # noqa: F401  (SCHEMA, READABLE_SCHEMAS, LoggedEvent: public here too)
    DRIFT_COLUMNS,
    EVENT_COLUMNS,
    INSERT_DRIFT,
    INSERT_EVENT,
    READABLE_SCHEMAS,
    SCHEMA,
    SET_REWARD,
    DriftEvent,
    LoggedEvent,
    create_private,
    open_for_writing,
)
from bandit.log.writers import WriterLock, writer_gone

DEFAULT_COMMIT_INTERVAL_S = 0.2
DEFAULT_MAX_UNCOMMITTED = 1024
DEFAULT_MAX_DELAY_S = 0.5
_monotonic = _time.monotonic  # the age of buffered rows (a module attribute so tests can move it)
_NEVER = float("inf")

_open_logs: "weakref.WeakSet[EventLog]" = weakref.WeakSet()


@atexit.register
def _close_open_logs() -> None:
    """Interpreter exit: commit every open log's buffered rows (a script without close() loses nothing)."""
    for log in list(_open_logs):
        with contextlib.suppress(Exception):
            log.close()


class EventLog:
    """Append decisions and rewards; stream them back in order; export to DSJSON/CSV/JSONL.

    Use as a context manager (or call `close()`); rows are committed within `commit_interval_s`,
    and a SIGKILL loses at most `max_uncommitted` rows (decisions, rewards and drift rows together),
    none older than `max_delay_s` while the log is being written to: past either bound the writing
    call commits itself instead of waiting for the background thread."""

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        batch_size: int = 512,
        commit_interval_s: float = DEFAULT_COMMIT_INTERVAL_S,
        max_uncommitted: int = DEFAULT_MAX_UNCOMMITTED,
        max_delay_s: float = DEFAULT_MAX_DELAY_S,
        durable: bool = False,
        readonly: bool = False,
        busy_timeout_s: float = 30.0,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise BanditError(f"an event log is a path (str or os.PathLike), got {type(path).__name__}")
        self.path = Path(path)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise BanditError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
        self.batch_size = batch_size
        self.commit_interval_s = float(commit_interval_s)
        if not self.commit_interval_s > 0:
            raise BanditError(f"commit_interval_s must be > 0, got {commit_interval_s!r}")
        if isinstance(max_uncommitted, bool) or not isinstance(max_uncommitted, int) or max_uncommitted < 1:
            raise BanditError(f"max_uncommitted must be a whole number >= 1, got {max_uncommitted!r}")
        self.max_uncommitted = max_uncommitted
        self.max_delay_s = float(max_delay_s)
        if not self.max_delay_s > 0:
            raise BanditError(f"max_delay_s must be > 0, got {max_delay_s!r}")
        self.readonly = readonly
        self.writer_id: int | None = None
        self._lock: WriterLock | None = None
        self._db: sqlite3.Connection | None = None
        if readonly and not self.path.is_file():
            raise BanditError(f"{self.path}: no such event log")
        if not readonly:
            if self.path.is_dir():
                raise BanditError(f"{self.path}: is a folder, not an event log file")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            create_private(self.path)
        try:
            self._db = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False, timeout=float(busy_timeout_s)
            )
            if readonly:  # a reader never changes the file (not even its journal mode)
                row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
                schema = row and row[0]
            else:
                schema = self._open_for_writing(durable)
        except sqlite3.DatabaseError as exc:
            self._abandon()
            raise BanditError(f"{self.path}: not an artbandit event log ({exc})") from None
        if schema not in READABLE_SCHEMAS:
            self._abandon()
            raise BanditError(f"{self.path}: not an artbandit event log (schema {schema!r})")
        self._buf = threading.Lock()  # the buffers below
        self._dblock = threading.RLock()  # the connection: one commit or read at a time
        self._events: list[list] = []
        self._buffered: dict[str, list] = {}  # event id -> its row in _events (not yet committed)
        self._new_sets: dict[Any, str] = {}
        self._rewards: list[tuple] = []
        self._drifts: list[tuple] = []
        self._since = _NEVER  # monotonic time the oldest buffered row was buffered
        self._inflight = 0  # rows taken from the buffers by a commit still running
        self._inflight_since = _NEVER
        self._set_ids = TextCache(100_000, 2_000_000)  # actions key -> action_sets.id (committed)
        self._error: BaseException | None = None
        self._wake = threading.Event()
        self._flusher: threading.Thread | None = None
        self._closed = False
        self.duplicates: list[str] = []  # event ids another writer logged first (see _commit)
        self.committed = 0 if readonly else len(self)
        if not readonly:
            _open_logs.add(self)

    @property
    def _conn(self) -> sqlite3.Connection:
        """The open connection; a one-line error once the log is closed."""
        if self._db is None:
            raise BanditError(f"{self.path}: the event log is closed")
        return self._db

    def _open_for_writing(self, durable: bool) -> str | None:
        self._lock = WriterLock(self.path)
        assert self._db is not None
        schema, self.writer_id = open_for_writing(self._db, durable, self._lock.token)
        return schema

    def _abandon(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._lock is not None:
            self._lock.release()

    # -- writing -----------------------------------------------------------------------------
    def append(
        self,
        event_id: str,
        time: float,
        model_version: str,
        policy: str,
        user: str | None,
        context_json: str,
        actions_key: Any,
        actions_json: Sequence[str],
        pmf: Sequence[float],
        chosen_index: int,
        action_id: str,
        probability: float,
    ) -> None:
        """Buffer one decision (committed within commit_interval_s). `actions_key` identifies the
        candidate set (same key, same actions) so each set is stored once."""
        if self._error is not None:
            self._raise_background_error()
        set_ref = self._set_ids.get(actions_key)
        try:
            pmf_text = orjson.dumps(pmf, option=orjson.OPT_SERIALIZE_NUMPY).decode()
        except TypeError:  # numpy scalars of other widths
            pmf_text = "[" + ",".join([repr(float(p)) for p in pmf]) + "]"
        # the last three fields are the reward, its time and `defaulted`, filled in place when the
        # reward arrives before the row is committed (one INSERT instead of an INSERT and an UPDATE)
        row = [
            event_id,
            time,
            model_version,
            policy,
            user,
            context_json,
            actions_key if set_ref is None else set_ref,
            pmf_text,
            chosen_index,
            action_id,
            probability,
            None,
            None,
            0,
            self.writer_id,
        ]
        with self._buf:
            if set_ref is None and actions_key not in self._new_sets:
                self._new_sets[actions_key] = "[" + ",".join(actions_json) + "]"
            events = self._events
            events.append(row)
            self._buffered[event_id] = row
            n = len(events) + len(self._rewards) + len(self._drifts)  # _buffered_rows, inline: once per rank
            if n == 1:
                self._since = _monotonic()
        self._after_buffering(n)

    def set_reward(self, event_id: str, reward: float, reward_time: float, defaulted: bool = False) -> None:
        """Buffer the final reward of an event this writer logged (or claimed)."""
        with self._buf:
            row = self._buffered.get(event_id)
            if row is not None:
                row[11], row[12], row[13] = reward, reward_time, int(defaulted)
                return
            self._rewards.append((reward, reward_time, int(defaulted), event_id, self.writer_id))
            n = self._buffered_rows()
        self._after_buffering(n)

    def append_drift(self, drift: DriftEvent) -> None:
        """Buffer a detected drift (committed like decisions: within commit_interval_s, at close and
        at exit). Its `writer` is set to this log's writer."""
        row = (
            drift.time,
            self.writer_id,
            drift.direction,
            drift.statistic,
            drift.threshold,
            drift.floor,
            drift.boost_events,
            drift.n_learned,
            drift.event_id,
        )
        with self._buf:
            self._drifts.append(row)
            n = self._buffered_rows()
        self._after_buffering(n)

    def _buffered_rows(self) -> int:
        """Rows waiting for a commit (under `_buf`); starts the age clock when the first arrives."""
        n = len(self._events) + len(self._rewards) + len(self._drifts)
        if n == 1:
            self._since = _monotonic()
        return n

    def _after_buffering(self, n: int) -> None:
        if self._flusher is None:
            self._start_flusher()
        since, inflight_since = self._since, self._inflight_since
        if (
            n + self._inflight >= self.max_uncommitted
            or _monotonic() - (since if since < inflight_since else inflight_since) >= self.max_delay_s
        ):
            # the committing thread fell behind (a loaded machine, a slow disk): commit here, so a
            # SIGKILL never loses more than the documented bound
            self.flush()
        elif n >= self.batch_size and not self._wake.is_set():
            # once: until the committing thread takes the batch, every row would set it again, and
            # Event.set takes its condition's lock and notifies (~1-2 us a row on a busy machine)
            self._wake.set()

    def _start_flusher(self) -> None:
        if self.readonly or self._closed:
            return
        thread = threading.Thread(
            target=_flush_loop,
            args=(weakref.ref(self), self._wake, self.commit_interval_s),
            name=f"artbandit-eventlog-{self.path.name}",
            daemon=True,
        )
        self._flusher = thread
        thread.start()

    def flush(self) -> None:
        """Commit everything buffered in one transaction (errors of the background commits too)."""
        if self.readonly or self._db is None:
            return
        with self._dblock:
            with self._buf:
                events, sets, rewards, drifts = self._events, self._new_sets, self._rewards, self._drifts
                since = self._since
                if events or rewards or drifts:
                    self._events, self._new_sets, self._rewards, self._buffered = [], {}, [], {}
                    self._drifts = []
                    self._since = _NEVER
                    self._inflight, self._inflight_since = len(events) + len(rewards) + len(drifts), since
            if events or rewards or drifts:
                try:
                    self._commit(events, sets, rewards, drifts)
                except BaseException as exc:
                    with self._buf:  # keep everything for the next attempt, in order
                        self._events[:0] = events
                        self._buffered = {row[0]: row for row in self._events}
                        self._new_sets = {**sets, **self._new_sets}
                        self._rewards[:0] = rewards
                        self._drifts[:0] = drifts
                        self._since = since
                    if isinstance(exc, sqlite3.Error):
                        raise BanditError(f"{self.path}: could not commit the event log ({exc})") from None
                    raise
                finally:
                    self._inflight, self._inflight_since = 0, _NEVER
        if self._error is not None:
            self._raise_background_error()

    def _raise_background_error(self) -> None:
        exc, self._error = self._error, None
        raise BanditError(f"{self.path}: could not commit the event log ({exc})") from None

    def _commit(
        self, events: list[list], sets: dict[Any, str], rewards: list[tuple], drifts: Sequence[tuple] = ()
    ) -> None:
        """One transaction: new candidate sets, the buffered rows (already parameter lists with this
        writer's id), the rewards of rows committed earlier, detected drifts."""
        db = self._db
        assert db is not None
        dropped = 0
        # rows whose candidate set had no database id yet: resolved in place, restored on failure
        unresolved = [(row, row[6]) for row in events if type(row[6]) is not int]
        set_ids = self._set_ids

        def resolve(ids: dict[Any, int]) -> None:
            for row, key in unresolved:
                row[6] = ids[key] if key in ids else set_ids[key]

        db.execute("BEGIN IMMEDIATE")
        try:
            ids = self._resolve_sets(sets)
            resolve(ids)
            try:
                db.executemany(INSERT_EVENT, events)
            except sqlite3.IntegrityError:
                # another writer logged a caller-chosen event id first (rank() refuses ids already in
                # the log, so only a race between processes gets here): keep every other row
                db.execute("ROLLBACK")
                db.execute("BEGIN IMMEDIATE")
                ids = self._resolve_sets(sets)
                resolve(ids)
                for row in events:
                    try:
                        db.execute(INSERT_EVENT, row)
                    except sqlite3.IntegrityError:
                        dropped += 1
                        self.duplicates.append(row[0])
                        warnings.warn(
                            f"{self.path}: event {row[0]!r} not logged: another writer logged that event id first",
                            RuntimeWarning,
                            stacklevel=2,
                        )
            if rewards:
                db.executemany(SET_REWARD, rewards)
            if drifts:
                db.executemany(INSERT_DRIFT, drifts)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            for row, key in unresolved:
                row[6] = key
            raise
        for key, set_id in ids.items():
            set_ids.put(key, set_id, len(key) + 16 if isinstance(key, tuple) else 16)
        self.committed += len(events) - dropped

    def _resolve_sets(self, sets: dict[Any, str]) -> dict[Any, int]:
        """Database ids of new candidate sets (inside the commit's transaction): an identical set
        another writer stored is reused, else a new row is added."""
        db = self._db
        assert db is not None
        ids: dict[Any, int] = {}
        for key, text in sets.items():
            row = db.execute("SELECT id FROM action_sets WHERE actions=? LIMIT 1", (text,)).fetchone()
            ids[key] = (
                row[0]
                if row
                else int(db.execute("INSERT INTO action_sets(actions) VALUES (?)", (text,)).lastrowid or 0)
            )
        return ids

    def contains(self, event_id: str) -> bool:
        """Whether `event_id` is in the log (committed by any writer, or buffered here)."""
        with self._buf:
            if event_id in self._buffered:
                return True
        with self._dblock:
            return (
                self._conn.execute("SELECT 1 FROM events WHERE event_id=? LIMIT 1", (event_id,)).fetchone() is not None
            )

    def claim_pending(self) -> list[LoggedEvent]:
        """Take over the unrewarded events of writers that are gone (killed, crashed, closed) and
        return every unrewarded event this writer now owns, in logging order.

        A restarted service calls this (through its policy) so rewards for events ranked before the
        restart are still accepted, learned and logged. Live writers' events are never taken."""
        if self.readonly:
            raise BanditError(f"{self.path}: opened read-only")
        self.flush()
        db = self._db
        assert db is not None
        with self._dblock:
            db.execute("BEGIN IMMEDIATE")
            try:
                others = db.execute("SELECT id, token FROM writers WHERE id != ?", (self.writer_id,)).fetchall()
                gone = [(wid,) for wid, token in others if writer_gone(self.path, token)]
                db.executemany("DELETE FROM writers WHERE id=?", gone)
                db.execute(
                    "UPDATE events SET writer=? WHERE reward IS NULL AND (writer IS NULL OR writer NOT IN"
                    " (SELECT id FROM writers))",
                    (self.writer_id,),
                )
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        return list(self._iter_events(where="reward IS NULL AND writer=?", args=(self.writer_id,)))

    def close(self) -> None:
        """Commit the tail and close the file. Unrewarded events stay in the log for the next
        writer to claim."""
        if self._db is None:
            return
        self._closed = True
        self._wake.set()
        try:
            if not self.readonly:
                self.flush()
        finally:
            with self._dblock:
                if not self.readonly and self.writer_id is not None:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("DELETE FROM writers WHERE id=?", (self.writer_id,))
                self._db.close()
                self._db = None
            if self._lock is not None:
                self._lock.release()
            _open_logs.discard(self)

    def __enter__(self) -> "EventLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -----------------------------------------------------------------------------
    def __len__(self) -> int:
        with self._dblock:
            committed = self._conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        return committed + len(self._events)

    def drift_events(self) -> list[DriftEvent]:
        """Every committed drift event, oldest first (by time, then commit order); [] for a log
        written before the table existed and not reopened for writing since."""
        if not self.readonly:
            self.flush()
        with self._dblock:
            try:
                rows = self._conn.execute(f"SELECT {DRIFT_COLUMNS} FROM drift_events ORDER BY time, id").fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return []
                raise BanditError(f"{self.path}: unreadable event log ({exc})") from None
        return [DriftEvent(*row) for row in rows]

    def iter_events(self, batch_size: int = 10_000) -> Iterator[LoggedEvent]:
        """Every committed event in logging order, fetched `batch_size` rows at a time."""
        return self._iter_events(batch_size=batch_size)

    def _iter_events(self, batch_size: int = 10_000, where: str = "", args: tuple = ()) -> Iterator[LoggedEvent]:
        for (eid, t, version, policy, user, ctx, pmf, chosen, p, r, rt, dflt), (ids, feats) in self._rows(
            EVENT_COLUMNS, batch_size, where, args
        ):
            yield LoggedEvent(
                event_id=eid,
                time=t,
                model_version=version,
                policy=policy,
                context_json=ctx,
                action_ids=ids,
                action_features=feats,
                pmf_json=pmf,
                chosen_index=chosen,
                probability=p,
                reward=r,
                reward_time=rt,
                user=user,
                defaulted=bool(dflt),
            )

    def iter_outcomes(
        self, batch_size: int = 10_000, since: float | None = None, until: float | None = None
    ) -> Iterator[tuple]:
        """What offline evaluation reads of every committed event, in logging order, as plain tuples:
        (time, context JSON, action ids, action features, pmf JSON, chosen index, probability, reward).
        `since`/`until` (seconds since the epoch): only events logged at since <= time < until, so an
        evaluation can cover "the last N hours" without reading a copy of the log.

        Why besides iter_events: replay reads millions of events and needs neither ids, versions nor
        users; skipping those columns and the LoggedEvent object makes reading ~1/3 cheaper. The id and
        feature lists are shared by every event with the same candidate set: do not modify them."""
        where, args = _time_window(since, until)
        for (t, ctx, pmf, chosen, p, r), (ids, feats) in self._rows(
            "time, context, pmf, chosen_index, probability, reward", batch_size, where, args
        ):
            yield t, ctx, ids, feats, pmf, chosen, p, r

    def count_between(self, since: float | None = None, until: float | None = None) -> int:
        """Committed events logged at since <= time < until (iter_outcomes' window)."""
        if not self.readonly:
            self.flush()
        where, args = _time_window(since, until)
        with self._dblock:
            return self._conn.execute(
                "SELECT COUNT(*) FROM events" + (f" WHERE {where}" if where else ""), args
            ).fetchone()[0]

    def _rows(
        self, columns: str, batch_size: int, where: str = "", args: tuple = ()
    ) -> Iterator[tuple[tuple, tuple[list[str], list[dict]]]]:
        """(row of `columns`, (action ids, action features)) per committed event, in logging order."""
        if not self.readonly:
            self.flush()
        sets: dict[int, tuple[list[str], list[dict]]] = {}
        last = 0
        query = (
            f"SELECT seq, action_set, {columns} FROM events WHERE seq > ? {'AND ' + where if where else ''}"
            " ORDER BY seq LIMIT ?"
        )
        while True:
            try:
                with self._dblock:
                    rows = self._conn.execute(query, (last, *args, batch_size)).fetchall()
            except sqlite3.DatabaseError as exc:
                raise BanditError(f"{self.path}: unreadable event log ({exc})") from None
            if not rows:
                return
            for row in rows:
                actions = sets.get(row[1])
                if actions is None:
                    actions = self._load_set(row[1])
                    if len(sets) > 10_000:
                        sets.clear()
                    sets[row[1]] = actions
                yield row[2:], actions
            last = rows[-1][0]

    def _load_set(self, set_id: int) -> tuple[list[str], list[dict]]:
        with self._dblock:
            row = self._conn.execute("SELECT actions FROM action_sets WHERE id=?", (set_id,)).fetchone()
        if row is None:
            raise BanditError(f"{self.path}: event refers to missing action set {set_id}")
        actions = jsontext.loads(row[0])
        return [a["id"] for a in actions], [a["features"] for a in actions]

    # -- export ------------------------------------------------------------------------------
    def export(
        self,
        out: str | os.PathLike | IO[str] | None,
        fmt: str = "dsjson",
        *,
        costs: str = "reward",
        reward_range: tuple[float, float] = (0.0, 1.0),
    ) -> int:
        """Write every event as DSJSON / CSV / JSONL to a path (atomically) or an open text stream.
        DSJSON costs: "reward" (-reward, the decision service's convention) or "vw" (1 - reward
        scaled to [0, 1] by `reward_range`: exactly the costs artbandit's own VW model learns)."""
        return export_events(self.iter_events(), out, fmt, costs=costs, reward_range=reward_range)


def _flush_loop(ref: "weakref.ref[EventLog]", wake: threading.Event, interval: float) -> None:
    """The background committer: wakes every `interval` seconds (or when a batch is full)."""
    while True:
        wake.wait(interval)
        wake.clear()
        log = ref()
        if log is None or log._closed:
            return
        try:
            log.flush()
        except BaseException as exc:  # noqa: BLE001 - reported by the next call on the log
            log._error = exc
        del log


def _time_window(since: float | None, until: float | None) -> tuple[str, tuple]:
    """The SQL condition (and its arguments) for events logged at since <= time < until."""
    parts, args = [], []
    if since is not None:
        parts.append("time >= ?")
        args.append(float(since))
    if until is not None:
        parts.append("time < ?")
        args.append(float(until))
    return " AND ".join(parts), tuple(args)
