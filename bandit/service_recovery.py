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

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bandit.errors import BanditError
from bandit.open_events import NOT_ACTIVATED, OpenEvent
from bandit.vw_policy import Personalizer

if TYPE_CHECKING:
    from bandit.service import DecisionService


@dataclass(frozen=True)
class CheckpointToken:
    """A saved, not yet published checkpoint."""

    folder: Any
    meta: dict


def load_policy(svc: "DecisionService") -> Personalizer:
    """The model of the current checkpoint, or a fresh one from the configured arguments."""
    current = svc.state.current_checkpoint()
    if current is None:
        return svc.new_policy(svc.arguments)
    folder, meta = current
    svc.state.remove_stale_checkpoints(keep=folder.name)  # saved but never published: a crash
    svc.apprentice.update(meta.get("apprentice", {}))
    return Personalizer.load(folder, reward_range=svc.reward_range, min_probability=svc.min_probability,
                             log=None)


def recover(svc: "DecisionService") -> int:
    """Rebuild open events and re-learn closes after the checkpoint; returns the checkpoint's seq."""
    current = svc.state.current_checkpoint()
    ckpt_seq = int(current[1]["journal_seq"]) if current else 0
    open_from = int(current[1].get("open_from", ckpt_seq + 1)) if current else 1
    start = min(open_from, ckpt_seq + 1)
    if svc.journal.last_seq < ckpt_seq:
        raise BanditError(f"{svc.state.path}: the checkpoint is ahead of the journal "
                          f"({ckpt_seq} > {svc.journal.last_seq}); the journal was replaced or damaged")
    opened = svc.open
    relearned = 0
    for seq, kind, event_id, time, body in svc.journal.records(after_seq=start - 1):
        if kind == "rank":
            actions = svc.journal.actions_of(body["as"])
            ev = OpenEvent(event_id, seq, time, body["dl"], body["c"], actions, body["pmf"], body["ch"],
                           body["p"], body["m"], active=body["act"], group=body.get("g"),
                           model_version=body.get("v", ""))
            opened.add(ev)
            if seq > ckpt_seq and "agree" in body:
                svc.apprentice["decisions"] += 1
                svc.apprentice["agreed"] += int(body["agree"])
            continue
        ev = opened.get(event_id)
        if ev is None:
            continue  # an event closed before the checkpoint's window
        if kind == "reward":
            ev.rewards.append(body["v"])
        elif kind == "activate":
            ev.active = True
        elif kind == "close":
            opened.remove(event_id, body["why"])
            if seq > ckpt_seq:
                if body["l"]:
                    svc.policy.replay_step(ev.context, ev.actions).learn(ev.chosen, body["v"], ev.probability)
                    relearned += 1
                if body["why"] != NOT_ACTIVATED:
                    _rejoin(svc, ev, body, time)
    for ev in opened:
        ev.step = svc.policy.replay_step(ev.context, ev.actions)
    try:
        svc.log.flush()
    except BanditError:
        pass  # rows the event log already had (committed before the crash): kept once
    svc.relearned = relearned
    return ckpt_seq


def _rejoin(svc: "DecisionService", ev: OpenEvent, body: dict, time: float) -> None:
    from bandit.joined_log import append_joined, joined_row

    try:
        append_joined(svc.log, joined_row(ev, body["v"], time, body["why"] == "defaulted", svc.policy.spec))
    except BanditError:
        pass  # already in the event log (see above)


def prepare_checkpoint(svc: "DecisionService") -> CheckpointToken:
    seq = svc.journal.last_seq
    folder = svc.state.checkpoint_dir(seq)
    svc.policy.save(folder)
    oldest = svc.open.oldest_seq()
    meta = {"journal_seq": seq, "open_from": oldest if oldest is not None else seq + 1,
            "events_learned": svc.policy.n_learned, "apprentice": dict(svc.apprentice),
            "arguments": svc.arguments}
    return CheckpointToken(folder, meta)


def publish_checkpoint(svc: "DecisionService", token: CheckpointToken) -> None:
    """Make a prepared checkpoint current; the journal must already hold its records."""
    if svc.journal.committed_seq < token.meta["journal_seq"]:
        raise BanditError("checkpoint published before the journal records it depends on were written")
    svc.log.flush()
    svc.state.publish_checkpoint(token.folder, token.meta)
    svc.checkpoint_seq = token.meta["journal_seq"]
