"""Exports of the event log: VW's decision-service JSON (DSJSON), CSV, JSON lines and Parquet.

DSJSON writes features through bandit.vwformat, so VW's own `--dsjson` parser sees exactly the
features artbandit's model learned from (escaped names, `c_<namespace>`, `id=<id>` in namespace A).
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import IO, Any, Iterable

from bandit.choices import COSTS, EXPORT_FORMATS
from bandit.errors import BanditError
from bandit.log.schema import LoggedEvent
from bandit.vwformat import dsjson_action, dsjson_context

CSV_COLUMNS = [
    "event_id",
    "time",
    "model_version",
    "policy",
    "user",
    "chosen_index",
    "action_id",
    "probability",
    "reward",
    "reward_time",
    "defaulted",
    "action_ids",
    "pmf",
    "context",
    "action_features",
]


def export_events(
    events: Iterable[LoggedEvent],
    out: str | os.PathLike | IO[str] | None,
    fmt: str = "dsjson",
    *,
    costs: str = "reward",
    reward_range: tuple[float, float] = (0.0, 1.0),
) -> int:
    """Write `events` to a path (atomically, owner-only: it holds contexts) or an open text stream."""
    if fmt not in EXPORT_FORMATS:
        raise BanditError(f"unknown export format {fmt!r} (choose from {', '.join(EXPORT_FORMATS)})")
    if costs not in COSTS:
        raise BanditError(f"unknown DSJSON costs {costs!r} (choose from {', '.join(COSTS)})")
    lo, hi = float(reward_range[0]), float(reward_range[1])
    if not lo < hi:
        raise BanditError(f"reward_range must be low < high, got {reward_range!r}")
    if fmt == "parquet":
        if out is None or hasattr(out, "write"):
            raise BanditError("a Parquet export needs an output file (-o FILE), not a text stream")
        return _write_parquet(events, Path(out))
    if out is None or hasattr(out, "write"):
        return _write(events, out or sys.stdout, fmt, costs, (lo, hi))  # type: ignore[arg-type]
    # streamed to a private temporary sibling, renamed into place when complete (a log may not fit
    # in memory, so not through safeio.atomic.write_text_atomic)
    path = Path(out)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            n = _write(events, fh, fmt, costs, (lo, hi))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n


class SharedText:
    """JSON text of an object many events share (the event log hands out one action_ids and one
    action_features list per candidate set), serialised once: the export's time went into turning
    the same 50 feature dicts into text for every event. Keyed by the object's id, holding the
    object so the id is not reused while cached; bounded by entries."""

    LIMIT = 10_000

    def __init__(self) -> None:
        self._cache: dict[int, tuple[Any, str]] = {}

    def __call__(self, obj: Any) -> str:
        hit = self._cache.get(id(obj))
        if hit is not None and hit[0] is obj:
            return hit[1]
        if len(self._cache) >= self.LIMIT:
            self._cache.clear()
        text = _dumps(obj)
        self._cache[id(obj)] = (obj, text)
        return text


def csv_row(ev: LoggedEvent, shared: SharedText) -> list:
    """One event as a CSV_COLUMNS row (nested values as compact JSON text)."""
    return [
        ev.event_id,
        ev.time,
        ev.model_version,
        ev.policy,
        ev.user or "",
        ev.chosen_index,
        ev.action_id,
        ev.probability,
        "" if ev.reward is None else ev.reward,
        "" if ev.reward_time is None else ev.reward_time,
        int(ev.defaulted),
        shared(ev.action_ids),
        _dumps(ev.pmf),
        _dumps(ev.context),
        shared(ev.action_features),
    ]


def jsonl_line(ev: LoggedEvent, shared: SharedText) -> str:
    """One event as a JSON object: the LoggedEvent's fields in order, context and pmf decoded, plus
    action_id; the shared action lists spliced in as text (the same bytes as dumping the whole)."""
    head = _dumps({"event_id": ev.event_id, "time": ev.time, "model_version": ev.model_version, "policy": ev.policy})
    tail = _dumps(
        {
            "chosen_index": ev.chosen_index,
            "probability": ev.probability,
            "reward": ev.reward,
            "reward_time": ev.reward_time,
            "user": ev.user,
            "defaulted": ev.defaulted,
            "context": ev.context,
            "pmf": ev.pmf,
            "action_id": ev.action_id,
        }
    )
    return f'{head[:-1]},"action_ids":{shared(ev.action_ids)},"action_features":{shared(ev.action_features)},{tail[1:]}'


def _write(events: Iterable[LoggedEvent], fh: IO[str], fmt: str, costs: str, reward_range: tuple[float, float]) -> int:
    n = 0
    shared = SharedText()
    if fmt == "csv":
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for ev in events:
            writer.writerow(csv_row(ev, shared))
            n += 1
        return n
    multi: dict[tuple[int, int], tuple[Any, Any, list]] = {}
    for ev in events:
        if fmt == "jsonl":
            fh.write(jsonl_line(ev, shared))
        else:
            fh.write(_dumps(to_dsjson(ev, costs=costs, reward_range=reward_range, multi=multi)))
        fh.write("\n")
        n += 1
    return n


PARQUET_ROWS = 10_000  # events per row group: memory bounded by the batch, not the log


def _write_parquet(events: Iterable[LoggedEvent], path: Path) -> int:
    """The CSV's columns as a Parquet file (zstd, dictionary-encoded): an event's action ids and
    action features are the same text for every event of its candidate set, so the columnar file
    stores each set once (per row group) instead of once per event. Written to a private temporary
    sibling and renamed into place when complete."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise BanditError("a Parquet export needs pyarrow (pip install 'artbandit[parquet]')") from None
    ints = {"chosen_index", "defaulted"}
    floats = {"time", "probability", "reward", "reward_time"}
    schema = pa.schema(
        [(c, pa.int64() if c in ints else pa.float64() if c in floats else pa.string()) for c in CSV_COLUMNS]
    )
    shared = SharedText()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    os.close(fd)
    n = 0
    try:
        with pq.ParquetWriter(
            tmp, schema, compression="zstd", use_dictionary=True, dictionary_pagesize_limit=16 << 20
        ) as writer:
            rows: list[list] = []
            for ev in events:
                row = csv_row(ev, shared)
                row[4] = ev.user  # None, not "", where the CSV has an empty cell
                row[8], row[9] = ev.reward, ev.reward_time
                rows.append(row)
                if len(rows) >= PARQUET_ROWS:
                    writer.write_table(pa.table(list(zip(*rows)), schema=schema))
                    n += len(rows)
                    rows = []
            if rows or n == 0:
                writer.write_table(
                    pa.table([list(c) for c in zip(*rows)] if rows else [[] for _ in CSV_COLUMNS], schema=schema)
                )
                n += len(rows)
        os.chmod(tmp, 0o600)  # owner-only: it holds contexts
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def to_dsjson(
    ev: LoggedEvent,
    *,
    costs: str = "reward",
    reward_range: tuple[float, float] = (0.0, 1.0),
    multi: dict[tuple[int, int], tuple[Any, Any, list]] | None = None,
) -> dict:
    """One event in VW's decision-service JSON (cb_explore_adf).

    `_label_cost` is -reward by default (the decision service's convention, which the OPE DSJSON
    reader expects); with costs="vw" it is 1 - (reward - low) / (high - low), the cost artbandit's
    own VW model learns, so `vw --dsjson` trained on the export learns the same model.
    """
    order = sorted(range(len(ev.pmf)), key=lambda i: (i != ev.chosen_index, -ev.pmf[i]))
    context: dict[str, Any] = dsjson_context(ev.context)
    key = (id(ev.action_ids), id(ev.action_features))
    hit = multi.get(key) if multi is not None else None
    if hit is None or hit[0] is not ev.action_ids or hit[1] is not ev.action_features:  # once per set
        hit = (
            ev.action_ids,
            ev.action_features,
            [dsjson_action(aid, feats) for aid, feats in zip(ev.action_ids, ev.action_features)],
        )
        if multi is not None:
            if len(multi) >= SharedText.LIMIT:
                multi.clear()
            multi[key] = hit
    context["_multi"] = hit[2]
    record: dict[str, Any] = {}
    if ev.reward is not None:
        reward = float(ev.reward)
        if costs == "vw":
            lo, hi = reward_range
            cost = 1.0 - (min(max(reward, lo), hi) - lo) / (hi - lo)
        else:
            cost = -reward
        record.update(
            {
                "_label_cost": cost,
                "_label_probability": ev.probability,
                "_label_Action": ev.chosen_index + 1,
                "_labelIndex": ev.chosen_index,
            }
        )
    record.update(
        {
            "Timestamp": _dt.datetime.fromtimestamp(ev.time, _dt.timezone.utc).isoformat().replace("+00:00", "Z"),
            "Version": "1",
            "EventId": ev.event_id,
            "a": [i + 1 for i in order],
            "c": context,
            "p": [ev.pmf[i] for i in order],
            "VWState": {"m": ev.model_version},
        }
    )
    if ev.reward is not None:
        record["o"] = [{"v": float(ev.reward), "EventId": ev.event_id, "ActionTaken": False}]
    return record
