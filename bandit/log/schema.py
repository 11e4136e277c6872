"""The event log's SQLite schema: tables, statements, the row type readers get, creating the file
owner-only, and opening a log for writing (creating or upgrading its tables, registering the writer).
See bandit.log.eventlog for how rows are written and read."""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from bandit.log import jsontext

SCHEMA = "artbandit.events/2"
READABLE_SCHEMAS = ("artbandit.events/1", SCHEMA)  # /1: no writer column (upgraded when written)

_TABLES = (
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS action_sets(id INTEGER PRIMARY KEY, actions TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS events(
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    time REAL NOT NULL,
    model_version TEXT NOT NULL,
    policy TEXT NOT NULL,
    user TEXT,
    context TEXT NOT NULL,
    action_set INTEGER NOT NULL REFERENCES action_sets(id),
    pmf TEXT NOT NULL,
    chosen_index INTEGER NOT NULL,
    action_id TEXT NOT NULL,
    probability REAL NOT NULL,
    reward REAL,
    reward_time REAL,
    defaulted INTEGER NOT NULL DEFAULT 0,
    writer INTEGER
)""",
    "CREATE TABLE IF NOT EXISTS writers(id INTEGER PRIMARY KEY, token TEXT NOT NULL, pid INTEGER, started REAL)",
    # added within /2 (a log written before gains it when next opened for writing): no user, no context
    """CREATE TABLE IF NOT EXISTS drift_events(
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    writer INTEGER,
    direction TEXT NOT NULL,
    statistic REAL NOT NULL,
    threshold REAL NOT NULL,
    floor REAL NOT NULL,
    boost_events INTEGER NOT NULL,
    n_learned INTEGER NOT NULL,
    event_id TEXT
)""",
)
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS action_sets_by_content ON action_sets(actions)",
    "CREATE INDEX IF NOT EXISTS events_unrewarded ON events(writer) WHERE reward IS NULL",
)
INSERT_EVENT = (
    "INSERT INTO events(event_id, time, model_version, policy, user, context, action_set, pmf,"
    " chosen_index, action_id, probability, reward, reward_time, defaulted, writer)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
SET_REWARD = "UPDATE events SET reward=?, reward_time=?, defaulted=? WHERE event_id=? AND writer=?"
INSERT_DRIFT = (
    "INSERT INTO drift_events(time, writer, direction, statistic, threshold, floor, boost_events,"
    " n_learned, event_id) VALUES (?,?,?,?,?,?,?,?,?)"
)
DRIFT_COLUMNS = "time, writer, direction, statistic, threshold, floor, boost_events, n_learned, event_id"
EVENT_COLUMNS = (
    "event_id, time, model_version, policy, user, context, pmf, chosen_index, probability,"
    " reward, reward_time, defaulted"
)


@dataclass
class LoggedEvent:
    """One logged decision, exactly as it was made (pmf and probability as sampled)."""

    event_id: str
    time: float
    model_version: str
    policy: str
    context_json: str  # the context exactly as logged; `.context` decodes it once
    action_ids: list[str]
    action_features: list[dict]
    pmf_json: str  # the full pmf as logged; `.pmf` decodes it once
    chosen_index: int
    probability: float
    reward: float | None
    reward_time: float | None
    user: str | None = None  # keyed hash of the user id, or None
    defaulted: bool = False  # True when the reward is the default given at expiry

    @property
    def action_id(self) -> str:
        return self.action_ids[self.chosen_index]

    @cached_property
    def context(self) -> dict:
        """Decoded on first use: readers that need no context (uniform or fixed-action targets,
        IPS on a column) then never pay for JSON-decoding it."""
        return jsontext.loads(self.context_json)

    @cached_property
    def pmf(self) -> list[float]:
        """Decoded on first use, like `context` (an IPS pass needs only the chosen probability)."""
        return jsontext.loads(self.pmf_json)


@dataclass(frozen=True)
class DriftEvent:
    """A change the live policy detected in its reward stream, and what it did about it. Holds no
    user and no context: only the detector's numbers and the event whose reward raised the alarm."""

    time: float  # the closing time of that event's reward (the policy's clock)
    writer: int | None  # the log writer (process) whose policy detected it
    direction: str  # "drop" (only drops raise exploration)
    statistic: float  # Page-Hinkley evidence at the alarm, in standard deviations
    threshold: float  # the evidence needed for an alarm
    floor: float  # the probability floor every action got for the boost
    boost_events: int  # for how many learned events the floor holds
    n_learned: int  # events the policy had learned before this one
    event_id: str | None  # the event whose reward raised the alarm


def create_private(path: Path) -> None:
    """Create the log file owner-only before SQLite opens it (its -wal/-shm files copy the mode)."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def _next_writer_id(db: sqlite3.Connection) -> int:
    """A writer id no writer of this log has ever had. Why not the table's own rowid: a closed or dead
    writer's row is deleted, and SQLite would hand its id to the next writer, whose rewards could
    then reach the old writer's events. The last id is kept in `meta`; a log from before that key
    gets it from every id still visible (writers and events)."""
    row = db.execute("SELECT value FROM meta WHERE key='last_writer'").fetchone()
    if row is not None:
        last = int(row[0])
    else:
        last = max(
            db.execute("SELECT COALESCE(MAX(id), 0) FROM writers").fetchone()[0],
            db.execute("SELECT COALESCE(MAX(writer), 0) FROM events").fetchone()[0],
        )
    return last + 1


def open_for_writing(db: sqlite3.Connection, durable: bool, token: str) -> tuple[str | None, int | None]:
    """Create or upgrade the tables and register a writer (lock `token`), in one transaction.
    Returns (schema, writer id); schema None: a foreign database, left untouched."""
    db.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a committed transaction survives a process crash (SIGKILL);
    # FULL also survives power loss, at a cost per commit.
    db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
    db.execute("BEGIN IMMEDIATE")
    try:
        writer_id = None
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "meta" not in tables:
            db.execute("ROLLBACK")
            return None, None  # someone else's database: never add our tables to it
        for ddl in _TABLES:
            db.execute(ddl)
        db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA,))
        schema = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0]
        if schema == "artbandit.events/1":  # upgrade in place: add the writer column
            columns = {r[1] for r in db.execute("PRAGMA table_info(events)")}
            if "writer" not in columns:
                db.execute("ALTER TABLE events ADD COLUMN writer INTEGER")
            db.execute("UPDATE meta SET value=? WHERE key='schema'", (SCHEMA,))
            schema = SCHEMA
        if schema == SCHEMA:
            for ddl in _INDEXES:
                db.execute(ddl)
            writer_id = _next_writer_id(db)
            db.execute(
                "INSERT INTO writers(id, token, pid, started) VALUES (?, ?, ?, ?)",
                (writer_id, token, os.getpid(), time.time()),
            )
            db.execute("INSERT OR REPLACE INTO meta VALUES ('last_writer', ?)", (str(writer_id),))
        db.execute("COMMIT")
        return schema, writer_id
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
