"""The propensity-logged event store: one SQLite row per decision, written in WAL mode.

Why SQLite: one file, crash-safe transactions, readable by any tool while a writer appends. Rows are
buffered and committed in batches (every `batch_size` decisions or `commit_interval_s` seconds), so
a crash loses at most the uncommitted tail, never a committed event. Candidate action sets repeat
(a title's variants), so they are stored once in `action_sets` and referenced by id.

Tables:
  events(seq, event_id UNIQUE, time, model_version, policy, user, context, action_set, pmf,
         chosen_index, action_id, probability, reward, reward_time, defaulted)
  action_sets(id, actions)  -- actions: JSON [{"id", "features"}] in the order given to the policy
`user` is the keyed hash of the caller's user id (see bandit.privacy), never the raw id.
"""
from __future__ import annotations

import csv
import datetime as _dt
import json
import os
import sqlite3
import sys
import tempfile
import time as _time
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import IO, Any, Iterator, Sequence

from bandit import jsontext
from bandit.errors import BanditError

SCHEMA = "artbandit.events/1"
EXPORT_FORMATS = ("dsjson", "csv", "jsonl")

_DDL = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS action_sets(id INTEGER PRIMARY KEY, actions TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events(
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
    defaulted INTEGER NOT NULL DEFAULT 0
);
"""


@dataclass
class LoggedEvent:
    """One logged decision, exactly as it was made (pmf and probability as sampled)."""

    event_id: str
    time: float
    model_version: str
    policy: str
    context_json: str                # the context exactly as logged; `.context` decodes it once
    action_ids: list[str]
    action_features: list[dict]
    pmf_json: str                    # the full pmf as logged; `.pmf` decodes it once
    chosen_index: int
    probability: float
    reward: float | None
    reward_time: float | None
    user: str | None = None          # keyed hash of the user id, or None
    defaulted: bool = False          # True when the reward is the default given at expiry

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


class EventLog:
    """Append decisions and rewards; stream them back in order; export to DSJSON/CSV/JSONL."""

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        batch_size: int = 512,
        commit_interval_s: float = 1.0,
        durable: bool = False,
        readonly: bool = False,
    ) -> None:
        self.path = Path(path)
        self.batch_size = max(1, int(batch_size))
        self.commit_interval_s = float(commit_interval_s)
        self.readonly = readonly
        if readonly and not self.path.is_file():
            raise BanditError(f"{self.path}: no such event log")
        if not readonly:
            if self.path.is_dir():
                raise BanditError(f"{self.path}: is a folder, not an event log file")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            if not readonly:  # a reader never changes the file (not even its journal mode)
                self._db.execute("PRAGMA journal_mode=WAL")
                # NORMAL in WAL mode: a committed transaction survives a process crash (SIGKILL);
                # FULL also survives power loss, at a cost per commit.
                self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
                self._db.executescript(_DDL)
                self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA,))
            row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            self._next_set = (self._db.execute("SELECT COALESCE(MAX(id), 0) FROM action_sets").fetchone()[0]) + 1
        except sqlite3.DatabaseError as exc:
            raise BanditError(f"{self.path}: not an artbandit event log ({exc})") from None
        if row is None or row[0] != SCHEMA:
            self._db.close()
            raise BanditError(f"{self.path}: not an artbandit event log (schema {row and row[0]!r})")
        self._sets: dict[Any, int] = {}
        self._events: list[tuple] = []
        self._new_sets: list[tuple] = []
        self._rewards: list[tuple] = []
        self._last_commit = _time.monotonic()
        self.committed = len(self) if not readonly else 0  # events committed by this writer's file

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
        """Buffer one decision (committed with the next batch)."""
        set_id = self._sets.get(actions_key)
        if set_id is None:
            set_id = self._next_set
            self._next_set += 1
            if len(self._sets) > 100_000:
                self._sets.clear()
            self._sets[actions_key] = set_id
            self._new_sets.append((set_id, "[" + ",".join(actions_json) + "]"))
        self._events.append((
            event_id, time, model_version, policy, user, context_json, set_id,
            "[" + ",".join([repr(float(p)) for p in pmf]) + "]", chosen_index, action_id, probability,
        ))
        if len(self._events) >= self.batch_size or _time.monotonic() - self._last_commit > self.commit_interval_s:
            self.flush()

    def set_reward(self, event_id: str, reward: float, reward_time: float, defaulted: bool = False) -> None:
        """Buffer the final reward of an event."""
        self._rewards.append((reward, reward_time, int(defaulted), event_id))
        if len(self._rewards) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Commit everything buffered in one transaction."""
        if not (self._events or self._rewards or self._new_sets):
            return
        db = self._db
        try:
            db.execute("BEGIN")
            if self._new_sets:
                db.executemany("INSERT INTO action_sets(id, actions) VALUES (?, ?)", self._new_sets)
            if self._events:
                db.executemany(
                    "INSERT INTO events(event_id, time, model_version, policy, user, context, action_set,"
                    " pmf, chosen_index, action_id, probability) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    self._events,
                )
            if self._rewards:
                db.executemany(
                    "UPDATE events SET reward=?, reward_time=?, defaulted=? WHERE event_id=?", self._rewards
                )
            db.execute("COMMIT")
        except sqlite3.IntegrityError:
            db.execute("ROLLBACK")
            self._flush_row_by_row()
            return
        self.committed += len(self._events)
        self._events.clear()
        self._new_sets.clear()
        self._rewards.clear()
        self._last_commit = _time.monotonic()

    def _flush_row_by_row(self) -> None:
        """A batch hit a duplicate event id: keep every other row, then report the duplicates."""
        db = self._db
        duplicates = []
        db.execute("BEGIN")
        db.executemany("INSERT OR IGNORE INTO action_sets(id, actions) VALUES (?, ?)", self._new_sets)
        for row in self._events:
            try:
                db.execute(
                    "INSERT INTO events(event_id, time, model_version, policy, user, context, action_set,"
                    " pmf, chosen_index, action_id, probability) VALUES (?,?,?,?,?,?,?,?,?,?,?)", row)
                self.committed += 1
            except sqlite3.IntegrityError:
                duplicates.append(row[0])
        db.executemany("UPDATE events SET reward=?, reward_time=?, defaulted=? WHERE event_id=?", self._rewards)
        db.execute("COMMIT")
        self._events.clear()
        self._new_sets.clear()
        self._rewards.clear()
        self._last_commit = _time.monotonic()
        if duplicates:
            raise BanditError(
                f"{self.path}: {len(duplicates)} event(s) not logged, duplicate event id "
                f"(first: {duplicates[0]!r}); other events were kept"
            )

    def close(self) -> None:
        """Commit the tail and close the file."""
        if self._db is None:
            return
        try:
            if not self.readonly:
                self.flush()
        finally:
            self._db.close()
            self._db = None  # type: ignore[assignment]

    def __enter__(self) -> "EventLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0] + len(self._events)

    def iter_events(self, batch_size: int = 10_000) -> Iterator[LoggedEvent]:
        """Every committed event in logging order, fetched `batch_size` rows at a time."""
        for (eid, t, version, policy, user, ctx, pmf, chosen, p, r, rt, dflt), (ids, feats) in self._rows(
                "event_id, time, model_version, policy, user, context, pmf, chosen_index, probability,"
                " reward, reward_time, defaulted", batch_size):
            yield LoggedEvent(
                event_id=eid, time=t, model_version=version, policy=policy,
                context_json=ctx, action_ids=ids, action_features=feats,
                pmf_json=pmf, chosen_index=chosen, probability=p, reward=r,
                reward_time=rt, user=user, defaulted=bool(dflt),
            )

    def iter_outcomes(self, batch_size: int = 10_000) -> Iterator[tuple]:
        """What offline evaluation reads of every committed event, in logging order, as plain tuples:
        (time, context JSON, action ids, action features, pmf JSON, chosen index, probability, reward).

        Why besides iter_events: replay reads millions of events and needs neither ids, versions nor
        users; skipping those columns and the LoggedEvent object makes reading ~1/3 cheaper. The id and
        feature lists are shared by every event with the same candidate set: do not modify them."""
        for (t, ctx, pmf, chosen, p, r), (ids, feats) in self._rows(
                "time, context, pmf, chosen_index, probability, reward", batch_size):
            yield t, ctx, ids, feats, pmf, chosen, p, r

    def _rows(self, columns: str, batch_size: int) -> Iterator[tuple[tuple, tuple[list[str], list[dict]]]]:
        """(row of `columns`, (action ids, action features)) per committed event, in logging order."""
        if not self.readonly:
            self.flush()
        sets: dict[int, tuple[list[str], list[dict]]] = {}
        last = 0
        query = f"SELECT seq, action_set, {columns} FROM events WHERE seq > ? ORDER BY seq LIMIT ?"
        while True:
            try:
                rows = self._db.execute(query, (last, batch_size)).fetchall()
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
        row = self._db.execute("SELECT actions FROM action_sets WHERE id=?", (set_id,)).fetchone()
        if row is None:
            raise BanditError(f"{self.path}: event refers to missing action set {set_id}")
        actions = jsontext.loads(row[0])
        return [a["id"] for a in actions], [a["features"] for a in actions]

    # -- export ------------------------------------------------------------------------------
    def export(self, out: str | os.PathLike | IO[str] | None, fmt: str = "dsjson") -> int:
        """Write every event as DSJSON / CSV / JSONL to a path (atomically) or an open text stream."""
        if fmt not in EXPORT_FORMATS:
            raise BanditError(f"unknown export format {fmt!r} (choose from {', '.join(EXPORT_FORMATS)})")
        if out is None or hasattr(out, "write"):
            return _write_export(self.iter_events(), out or sys.stdout, fmt)  # type: ignore[arg-type]
        path = Path(out)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                n = _write_export(self.iter_events(), fh, fmt)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return n


CSV_COLUMNS = ["event_id", "time", "model_version", "policy", "user", "chosen_index", "action_id",
               "probability", "reward", "reward_time", "defaulted", "action_ids", "pmf", "context",
               "action_features"]


def _write_export(events: Iterator[LoggedEvent], fh: IO[str], fmt: str) -> int:
    n = 0
    if fmt == "csv":
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for ev in events:
            writer.writerow([
                ev.event_id, ev.time, ev.model_version, ev.policy, ev.user or "", ev.chosen_index,
                ev.action_id, ev.probability, "" if ev.reward is None else ev.reward,
                "" if ev.reward_time is None else ev.reward_time, int(ev.defaulted),
                _dumps(ev.action_ids), _dumps(ev.pmf), _dumps(ev.context), _dumps(ev.action_features),
            ])
            n += 1
        return n
    for ev in events:
        if fmt == "jsonl":
            record = asdict(ev)
            record["context"] = ev.context
            record["pmf"] = ev.pmf
            del record["context_json"], record["pmf_json"]
            record["action_id"] = ev.action_id
        else:
            record = to_dsjson(ev)
        fh.write(_dumps(record))
        fh.write("\n")
        n += 1
    return n


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _dsjson_features(features: dict) -> dict:
    # Same feature names as the VW text examples: strings become "name=value": 1.
    out = {}
    for name, value in features.items():
        if isinstance(value, str):
            out[f"{name}={value}"] = 1
        elif value is not None:
            out[name] = float(value)
    return out


def to_dsjson(ev: LoggedEvent) -> dict:
    """One event in VW's decision-service JSON (cb_explore_adf), cost = -reward.

    Context namespaces are written as "c_<name>" and action features under "A" with an `id=` feature,
    exactly like the text examples the Personalizer learns from, so
    `vw --dsjson --cb_explore_adf -q cA` reads the export with the same features.
    """
    order = sorted(range(len(ev.pmf)), key=lambda i: (i != ev.chosen_index, -ev.pmf[i]))
    context: dict[str, Any] = {f"c_{ns}": _dsjson_features(f) for ns, f in ev.context.items()}
    context["_multi"] = [
        {"A": {f"id={aid}": 1, **_dsjson_features(feats)}}
        for aid, feats in zip(ev.action_ids, ev.action_features)
    ]
    record: dict[str, Any] = {}
    if ev.reward is not None:
        record.update({
            "_label_cost": -float(ev.reward),
            "_label_probability": ev.probability,
            "_label_Action": ev.chosen_index + 1,
            "_labelIndex": ev.chosen_index,
        })
    record.update({
        "Timestamp": _dt.datetime.fromtimestamp(ev.time, _dt.timezone.utc).isoformat().replace("+00:00", "Z"),
        "Version": "1",
        "EventId": ev.event_id,
        "a": [i + 1 for i in order],
        "c": context,
        "p": [ev.pmf[i] for i in order],
        "VWState": {"m": ev.model_version},
    })
    if ev.reward is not None:
        record["o"] = [{"v": float(ev.reward), "EventId": ev.event_id, "ActionTaken": False}]
    return record
