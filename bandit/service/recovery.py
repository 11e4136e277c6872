"""Checkpoints and recovery of a DecisionService: the model on disk plus the journal after it.

A checkpoint is the saved model plus the journal position it has learned up to (`journal_seq`) and
where the oldest event still open at that moment was ranked (`open_from`). Recovery loads it and reads
the journal from min(open_from, journal_seq + 1):
- rank records rebuild open events; reward and activate records update them;
- close records remove them, and those after `journal_seq` are learned again, in journal order
  (exactly the order the running service learned them), and re-sent to the derived event log.
The result: the same model and the same open events as the process that crashed had committed.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bandit.errors import BanditError
from bandit.lifecycle.book import OpenEvent
from bandit.lifecycle.window import NOT_ACTIVATED
from bandit.log.schema import DriftEvent
from bandit.policies.base import Policy
from bandit.policies.specs import load_saved_policy

# `svc` below is the DecisionService being opened or checkpointed (bandit.service.decision_service,
# which calls these functions; typed loosely so that the two modules do not import each other).
DecisionService = Any


@dataclass(frozen=True)
class CheckpointToken:
    """A saved, not yet published checkpoint."""

    folder: Any
    meta: dict


def load_policy(svc: DecisionService) -> Policy:
    """The model of the current checkpoint, or a fresh one from the configured arguments."""
    current = svc.state.current_checkpoint()
    if current is None:
        return svc.new_policy(svc.arguments)
    folder, meta = current
    svc.state.remove_stale_checkpoints(keep=folder.name)  # saved but never published: a crash
    svc.apprentice.update(meta.get("apprentice", {}))
    return load_saved_policy(folder, reward_range=svc.reward_range, min_probability=svc.min_probability, log=None)


def reload_checkpoint(svc: DecisionService) -> Policy:
    """The model of the published checkpoint again (a fresh one before the first), leaving every
    other checkpoint folder alone (a newer one may be waiting to be published)."""
    current = svc.state.current_checkpoint()
    if current is None:
        return svc.new_policy(svc.arguments)
    return load_saved_policy(current[0], reward_range=svc.reward_range, min_probability=svc.min_probability, log=None)


def recover(svc: DecisionService) -> int:
    """Rebuild open events and re-learn closes after the checkpoint; returns the checkpoint's seq."""
    current = svc.state.current_checkpoint()
    ckpt_seq = int(current[1]["journal_seq"]) if current else 0
    open_from = int(current[1].get("open_from", ckpt_seq + 1)) if current else 1
    start = min(open_from, ckpt_seq + 1)
    if svc.journal.last_seq < ckpt_seq:
        raise BanditError(
            f"{svc.state.path}: the checkpoint is ahead of the journal "
            f"({ckpt_seq} > {svc.journal.last_seq}); the journal was replaced or damaged"
        )
    book = svc.book
    relearned = 0
    rejoin: list[tuple[OpenEvent, dict, float]] = []
    drifts: list[DriftEvent] = []
    for seq, kind, event_id, time, body in svc.journal.records(after_seq=start - 1):
        if kind == "rank":
            actions = svc.journal.actions_of(body["as"])
            ev = OpenEvent(
                event_id,
                time,
                body["dl"],
                body["ch"],
                body["p"],
                context=body["c"],
                actions=actions,
                pmf=body["pmf"],
                mode=body["m"],
                active=body["act"],
                group=body.get("g"),
                model_version=body.get("v", ""),
                journal_seq=seq,
            )
            book.open(ev)
            if seq > ckpt_seq and "agree" in body:
                svc.apprentice["decisions"] += 1
                svc.apprentice["agreed"] += int(body["agree"])
            continue
        ev = book.pending.get(event_id)
        if ev is None:
            continue  # an event closed before the checkpoint's window
        if kind == "reward":
            ev.add_reward(body["v"])
        elif kind == "activate":
            ev.active = True
        elif kind == "close":  # replayed as recorded: the journal says why and with what it closed
            book.window.close(event_id, body["why"], early=True)
            if seq > ckpt_seq:
                if body["l"]:
                    ev.step = svc.policy.replay_step(ev.context, ev.actions)
                    drift = svc.learn_closed(ev, body["v"], time)
                    if drift is not False:  # False: it poisoned the model (a journal from before the checks)
                        relearned += 1
                        if drift is not None:
                            drifts.append(drift)
                if body["why"] != NOT_ACTIVATED:
                    rejoin.append((ev, body, time))
    for ev in book.pending.values():
        ev.step = svc.policy.replay_step(ev.context, ev.actions)
        svc._hold(ev)  # recovered events count against the budget (never refused: they were acknowledged)
    _rejoin(svc, rejoin, drifts)
    svc.relearned = relearned
    return ckpt_seq


def _rejoin(svc: DecisionService, closed: list[tuple[OpenEvent, dict, float]], drifts: list[DriftEvent]) -> None:
    """Send events closed after the checkpoint, and the drops their re-learning detected, to the
    derived event log, except those it already committed before the crash (it is flushed at every
    checkpoint, so only these can be missing)."""
    from bandit.service.joined_log import append_joined, joined_row

    logged_drifts = _logged(
        svc.state.events_path, [d.event_id for d in drifts if d.event_id is not None], table="drift_events"
    )
    for drift in drifts:
        if drift.event_id not in logged_drifts:
            svc.log.append_drift(drift)
    present = _logged(svc.state.events_path, [ev.event_id for ev, _, _ in closed])
    for ev, body, time in closed:
        defaulted = body["why"] == "defaulted"
        if ev.event_id in present:  # its row may have been committed without the reward: set it again
            svc.log.set_reward(ev.event_id, body["v"], time, defaulted)
        else:
            append_joined(svc.log, joined_row(ev, body["v"], time, defaulted, svc.policy.spec))
    svc.log.flush()


def _logged(path: Path, event_ids: list[str], table: str = "events") -> set[str]:
    """Which of `event_ids` the event log file holds in `table` (read-only; its `event_id` column)."""
    if not event_ids:
        return set()
    found: set[str] = set()
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            for i in range(0, len(event_ids), 500):
                chunk = event_ids[i : i + 500]
                rows = db.execute(
                    f"SELECT event_id FROM {table} WHERE event_id IN ({','.join('?' * len(chunk))})", chunk
                ).fetchall()
                found.update(r[0] for r in rows)
        finally:
            db.close()
    except sqlite3.Error:
        return set()
    return found


def prepare_checkpoint(svc: DecisionService) -> CheckpointToken:
    seq = svc.journal.last_seq
    folder = svc.state.checkpoint_dir(seq)
    svc.policy.save(folder)
    oldest = min((ev.journal_seq for ev in svc.book.pending.values()), default=None)
    meta = {
        "journal_seq": seq,
        "open_from": oldest if oldest is not None else seq + 1,
        "events_learned": svc.policy.n_learned,
        "apprentice": dict(svc.apprentice),
        "arguments": svc.arguments,
    }
    return CheckpointToken(folder, meta)


def publish_checkpoint(svc: DecisionService, token: CheckpointToken) -> None:
    """Make a prepared checkpoint current; the journal must already hold its records."""
    if svc.journal.committed_seq < token.meta["journal_seq"]:
        raise BanditError("checkpoint published before the journal records it depends on were written")
    svc.log.flush()
    svc.state.publish_checkpoint(token.folder, token.meta)
    svc.checkpoint_seq = token.meta["journal_seq"]
