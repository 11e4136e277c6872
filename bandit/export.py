"""Exports of the event log: VW's decision-service JSON (DSJSON), CSV and JSON lines.

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
from dataclasses import asdict
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Iterable

from bandit.choices import COSTS, EXPORT_FORMATS
from bandit.errors import BanditError
from bandit.vwformat import dsjson_action, dsjson_context

if TYPE_CHECKING:
    from bandit.eventlog import LoggedEvent

CSV_COLUMNS = ["event_id", "time", "model_version", "policy", "user", "chosen_index", "action_id",
               "probability", "reward", "reward_time", "defaulted", "action_ids", "pmf", "context",
               "action_features"]


def export_events(events: Iterable["LoggedEvent"], out: str | os.PathLike | IO[str] | None, fmt: str = "dsjson",
                  *, costs: str = "reward", reward_range: tuple[float, float] = (0.0, 1.0)) -> int:
    """Write `events` to a path (atomically, owner-only: it holds contexts) or an open text stream."""
    if fmt not in EXPORT_FORMATS:
        raise BanditError(f"unknown export format {fmt!r} (choose from {', '.join(EXPORT_FORMATS)})")
    if costs not in COSTS:
        raise BanditError(f"unknown DSJSON costs {costs!r} (choose from {', '.join(COSTS)})")
    lo, hi = float(reward_range[0]), float(reward_range[1])
    if not lo < hi:
        raise BanditError(f"reward_range must be low < high, got {reward_range!r}")
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


def _write(events: Iterable["LoggedEvent"], fh: IO[str], fmt: str, costs: str, reward_range: tuple[float, float]) -> int:
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
            record = to_dsjson(ev, costs=costs, reward_range=reward_range)
        fh.write(_dumps(record))
        fh.write("\n")
        n += 1
    return n


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def to_dsjson(ev: "LoggedEvent", *, costs: str = "reward", reward_range: tuple[float, float] = (0.0, 1.0)) -> dict:
    """One event in VW's decision-service JSON (cb_explore_adf).

    `_label_cost` is -reward by default (the decision service's convention, which the OPE DSJSON
    reader expects); with costs="vw" it is 1 - (reward - low) / (high - low), the cost artbandit's
    own VW model learns, so `vw --dsjson` trained on the export learns the same model.
    """
    order = sorted(range(len(ev.pmf)), key=lambda i: (i != ev.chosen_index, -ev.pmf[i]))
    context: dict[str, Any] = dsjson_context(ev.context)
    context["_multi"] = [dsjson_action(aid, feats) for aid, feats in zip(ev.action_ids, ev.action_features)]
    record: dict[str, Any] = {}
    if ev.reward is not None:
        reward = float(ev.reward)
        if costs == "vw":
            lo, hi = reward_range
            cost = 1.0 - (min(max(reward, lo), hi) - lo) / (hi - lo)
        else:
            cost = -reward
        record.update({
            "_label_cost": cost,
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
