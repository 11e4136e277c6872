"""DecisionService: Personalizer's rank/reward/activate on a state folder that a crash cannot make forget.

The model is a `vw:select` policy (bandit.policies.personalizer, the default) or a one-model `VWPolicy`, as the
policy arguments say (bandit.service.config). What the service adds to the bare policy: excluded
actions, deferred activation, multi-slot ranking, Apprentice and LoggingOnly modes, and durability.
Every state change is a journal record (bandit.service.journal) made in the same order as the in-memory change;
a restart loads the last checkpoint, rebuilds the open events from the journal and re-learns, in journal
order, every event that closed after the checkpoint, so the recovered model is the one an uninterrupted
run would have.

Why sampling is keyed by event id: the draw for an event is a hash of (seed, event id, slot), not the
next number of a stream, so a restart needs no generator state to make the same choices, and a run
is reproducible from its seed and its requests (with their eventIds, or generated ids from an
explicit `id_seed`). Generated ids are otherwise 128 random bits from the OS (bandit.lifecycle.event_ids, as
the Personalizer's): two services seeded alike never hand out the same id.

Why over 400 lines: rank, reward, activate and their multi-slot forms share one journal ordering
and one lock; split apart, the order that makes recovery exact would be spread over several files.

Library use (one thread): `with DecisionService(folder) as svc: d = svc.rank(ctx, actions)` — every
call commits before it returns (autocommit). A server sets autocommit=False and commits batches
itself (`take_batch` on its loop, `write_batch` on a writer thread: group commit), see artbandit.serve.
"""

from __future__ import annotations

import hashlib
import time as _time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from bandit.errors import BanditError, DuplicateRewardError, UnknownEventError
from bandit.lifecycle.book import Decision, EventBook, OpenEvent, RewardRules, check_reward, ranking
from bandit.lifecycle.event_ids import EventIds
from bandit.lifecycle.window import DEFAULTED, NOT_ACTIVATED, REWARDED
from bandit.log.eventlog import EventLog
from bandit.log.schema import DriftEvent
from bandit.policies.base import Policy
from bandit.policies.personalizer import Personalizer
from bandit.policies.vw import VWPolicy
from bandit.sampling import sample_index
from bandit.service.checks import (
    DEFAULT_PENDING_BYTES,
    EVENT_ID,
    check_actions,
    check_capacity,
    check_event_id,
    check_excluded,
    pending_cost,
)
from bandit.service.config import DEFAULT_ARGUMENTS, ServiceConfig, policy_kwargs
from bandit.service.joined_log import append_joined, joined_row
from bandit.service.journal import Journal, is_disk_full
from bandit.service.recovery import (
    CheckpointToken,
    load_policy,
    prepare_checkpoint,
    publish_checkpoint,
    recover,
    reload_checkpoint,
)
from bandit.service.state_dir import StateDir

SLOT_NAMESPACE = "_slot"
_COUNTER = {REWARDED: "closed_rewarded", DEFAULTED: "default_rewards", NOT_ACTIVATED: "not_activated"}


@dataclass(frozen=True)
class Slot:
    """One slot of a multi-slot rank request."""

    id: str
    features: dict
    excluded: tuple[str, ...] = ()
    baseline: str | None = None


def scores_finite(step: Any) -> bool:
    """Whether a policy's raw scores for an event (a ReplayStep's context and actions) are finite.

    Why the raw scores and not `step.pmf`: the probability floor (bandit.sampling.apply_floor)
    turns a NaN pmf into a uniform one, so a poisoned model looks healthy from outside while it can
    no longer learn (vw:select's model weights go NaN after one update with a non-finite prediction).
    Done after every learned event, so it must be cheap: vw:select keeps each model's squared error
    (`loss`), which turns NaN as soon as a model predicts NaN (about 1 us to check); other policies
    have their raw scores recomputed through their own `_pmf` hook (a few us for one VW model)."""
    policy = step._policy
    if isinstance(getattr(policy, "loss", None), np.ndarray):
        return model_finite(policy)
    return all(s - s == 0 for s in policy._pmf(step._prepared, step._entries))


def model_finite(policy: Policy) -> bool:
    """False for a model known to be non-finite without an event to score: vw:select whose squared
    errors are NaN (a checkpoint saved before these checks existed, an uploaded model)."""
    loss = getattr(policy, "loss", None)
    return not isinstance(loss, np.ndarray) or bool(np.isfinite(loss).all())


class DecisionService:
    """Rank, reward, activate and learn, durably, on one state folder (see the module docstring)."""

    def __init__(
        self,
        state: str,
        *,
        seed: int = 0,
        reward_range: tuple[float, float] = (0.0, 1.0),
        max_actions: int = 50,
        bits: int = 18,
        min_probability: float = 0.01,
        durable: bool = False,
        autocommit: bool = True,
        manual_wal_checkpoints: bool = False,
        id_seed: int | None = None,
        max_pending_bytes: int = DEFAULT_PENDING_BYTES,
    ) -> None:
        self.seed = int(seed)
        self.reward_range = (float(reward_range[0]), float(reward_range[1]))
        self.max_actions = int(max_actions)
        self.max_pending_bytes = int(max_pending_bytes)  # memory budget of pending events (estimated bytes)
        self.pending_bytes = 0
        self.bits = int(bits)
        self.min_probability = float(min_probability)
        self.autocommit = autocommit
        try:
            self._open(state, durable, manual_wal_checkpoints, id_seed)
        except OSError as exc:  # a full disk must say so, never look like a damaged file
            if is_disk_full(exc):
                raise BanditError(
                    f"{state}: disk full: the state folder cannot be written; free some space and start again"
                ) from None
            raise BanditError(f"{state}: cannot open the state folder ({exc.strerror or exc})") from None
        except BanditError as exc:
            if "disk is full" in str(exc) and "disk full:" not in str(exc):  # the event log's open error
                raise BanditError(
                    f"{state}: disk full: the state folder's files cannot be opened for writing; "
                    "free some space and start again"
                ) from None
            raise

    def _open(self, state: str, durable: bool, manual_wal_checkpoints: bool, id_seed: int | None) -> None:
        self.state = StateDir(state)
        try:
            saved = self.state.read_config()
            self.config = ServiceConfig.from_json(saved.get("service", {})).check(self.reward_range)
            self.arguments = saved.get("arguments", DEFAULT_ARGUMENTS)
            policy_kwargs(self.arguments, bits=self.bits)
            if not saved:
                self._save_config()
            self.journal = Journal(
                self.state.journal_path, durable=durable, manual_wal_checkpoints=manual_wal_checkpoints
            )
            self.log = EventLog(self.state.events_path)
            # open events and the rules that close them: the same event book as the library policy's
            self.book = EventBook(
                self._rules(), self._on_close, remember_closed=20_000, closed_reason=self._closed_reason
            )
            self.apprentice = {"decisions": 0, "agreed": 0}
            self.counters = {
                "ranks": 0,
                "rewards": 0,
                "default_rewards": 0,
                "learned": 0,
                "not_activated": 0,
                "closed_rewarded": 0,
            }
            self._joined: list[Any] = []  # rows for the derived event log: joined rows and DriftEvents
            self.eventlog_error: str | None = None
            self.model_rejections = 0  # models rejected as non-finite (see _reject_model)
            self.model_error: str | None = None
            self.checkpoint_due = False  # a server checkpoints at its next tick when set
            self._probe: Any = None  # the last learned event (checked again at checkpoints)
            self.policy: Policy = load_policy(self)
            if not model_finite(self.policy):  # checkpointed before the checks: it can never learn again
                self.model_rejections += 1
                self.model_error = "the checkpoint's model was non-finite; a fresh model is served"
                self.policy = self.new_policy(self.arguments)
            self.checkpoint_seq = recover(self)
            self._ids = EventIds(id_seed, taken=self._id_used)
        except BaseException:
            self.state.close()
            raise

    # -- construction helpers ------------------------------------------------------------------
    def new_policy(self, arguments: str) -> Policy:
        """A fresh model for VW arguments (checked against the allowlist): a Personalizer, or a
        `vw:select` policy for `--select`."""
        kwargs: dict[str, Any] = policy_kwargs(arguments, bits=self.bits)
        common: dict[str, Any] = dict(
            seed=self.seed, reward_range=self.reward_range, min_probability=self.min_probability
        )
        if kwargs.pop("exploration") == "select":
            return Personalizer(**common, **kwargs)
        return VWPolicy(**common, **kwargs)

    def _rules(self) -> RewardRules:
        c = self.config
        return RewardRules(c.reward_wait_s, c.reward_aggregation, c.default_reward, self.reward_range)

    def _save_config(self) -> None:
        self.state.write_config({"service": self.config.to_json(), "arguments": self.arguments})

    def _now(self, now: float | None) -> float:
        return _time.time() if now is None else float(now)

    # -- ranking -------------------------------------------------------------------------------
    def rank(
        self,
        context: Mapping,
        actions: Sequence[Mapping],
        *,
        excluded: Sequence[str] = (),
        event_id: str | None = None,
        defer: bool = False,
        now: float | None = None,
    ) -> Decision:
        """Choose one of `actions` (minus `excluded`); the first non-excluded action is the baseline."""
        now = self._now(now)
        self.expire(now)
        ids = check_actions(actions, self.max_actions)
        check_capacity(self.pending_bytes, self.max_pending_bytes, len(self.book))
        skip = check_excluded(excluded, ids, "excludedActions")
        eligible = [a for a in actions if a["id"] not in skip]
        if not eligible:
            raise BanditError("every action is excluded: nothing to rank")
        event_id = self._new_event_id(event_id)
        ev, step = self._decide(event_id, context, eligible, 0, now, defer, None)
        self._record(ev, step)
        self._maybe_commit()
        ranked = ranking([a["id"] for a in eligible], ev.pmf, ev.chosen) + [
            (a["id"], 0.0) for a in actions if a["id"] in skip
        ]
        pmf = dict(ranked)
        ids = [a["id"] for a in actions]
        return Decision(event_id, ev.action_id, ids.index(ev.action_id), ev.probability, [pmf[i] for i in ids], ranked)

    def rank_multislot(
        self,
        context: Mapping,
        actions: Sequence[Mapping],
        slots: Sequence[Slot],
        *,
        event_id: str | None = None,
        defer: bool = False,
        now: float | None = None,
    ) -> tuple[str, list[tuple[str, str]]]:
        """One action per slot, never the same action in two slots; returns (event id, [(slot, action)])."""
        now = self._now(now)
        self.expire(now)
        ids = check_actions(actions, self.max_actions)
        check_capacity(self.pending_bytes, self.max_pending_bytes, len(self.book))
        if not slots or len(slots) > len(ids):
            raise BanditError(f"slots must be a non-empty list of at most {len(ids)} (the number of actions)")
        slot_ids = [s.id for s in slots]
        if len(set(slot_ids)) != len(slot_ids) or not all(type(s) is str and EVENT_ID.fullmatch(s) for s in slot_ids):
            raise BanditError("slot ids must be unique non-empty strings of URL-safe characters")
        baselines = [s.baseline for s in slots if s.baseline is not None]
        if len(set(baselines)) != len(baselines):
            raise BanditError("two slots name the same baselineAction")
        for s in slots:
            skip = check_excluded(s.excluded, ids, f"slot {s.id!r} excludedActions")
            if s.baseline is not None and (s.baseline not in ids or s.baseline in skip):
                raise BanditError(f"slot {s.id!r}: baselineAction {s.baseline!r} is not one of its actions")
        event_id = self._new_event_id(event_id)
        taken: set[str] = set()
        decided = []
        for s in slots:  # decide every slot before recording any: a bad slot changes nothing
            skip = set(s.excluded)
            eligible = [a for a in actions if a["id"] not in taken and a["id"] not in skip]
            reserved = set(baselines) - {s.baseline} if self.config.learning_mode != "Online" else set()
            eligible = [a for a in eligible if a["id"] not in reserved] or eligible
            if not eligible:
                raise BanditError(f"slot {s.id!r}: no action left (the others are excluded or taken)")
            base = next((i for i, a in enumerate(eligible) if a["id"] == s.baseline), 0)
            slot_ctx = {**context, SLOT_NAMESPACE: {"id": s.id, **s.features}}
            ev, step = self._decide(f"{event_id}#{s.id}", slot_ctx, eligible, base, now, defer, event_id)
            taken.add(ev.action_id)
            decided.append((ev, step))
        for ev, step in decided:
            self._record(ev, step)
        self._maybe_commit()
        return event_id, [(s.id, ev.action_id) for s, (ev, _) in zip(slots, decided)]

    def _decide(
        self, key: str, context: Mapping, eligible: list, baseline: int, now: float, defer: bool, group: str | None
    ) -> tuple[OpenEvent, Any]:
        step = self.policy.replay_step(context, eligible)
        pmf = step.pmf
        mode = self.config.learning_mode
        agree = None
        if mode == "Online":
            x = self.config.exploration
            if x > 0.0:
                k = len(pmf)
                pmf = [(1.0 - x) * p + x / k for p in pmf]
            chosen = sample_index(pmf, self._uniform(key))
            probability = pmf[chosen]
        else:  # Apprentice / LoggingOnly: serve the baseline; the log says so (probability 1)
            agree = max(range(len(pmf)), key=pmf.__getitem__) == baseline
            chosen, probability = baseline, 1.0
            pmf = [1.0 if i == baseline else 0.0 for i in range(len(pmf))]
        ev = OpenEvent(
            key,
            now,
            self.book.deadline(now),
            chosen,
            probability,
            context=dict(context),
            actions=[dict(a) for a in eligible],
            pmf=pmf,
            mode=mode,
            active=not defer,
            group=group,
            model_version=self.policy.model_version,
            agree=agree,
        )
        return ev, step

    def _rank_body(self, ev: OpenEvent) -> dict:
        """A rank record's body (the journal's, and a ranker's stream message: bandit.service.stream)."""
        body = {
            "c": ev.context,
            "as": self.journal.action_set(ev.actions),
            "pmf": ev.pmf,
            "ch": ev.chosen,
            "p": ev.probability,
            "dl": ev.deadline,
            "act": ev.active,
            "m": ev.mode,
            "g": ev.group,
            "v": ev.model_version,
        }
        agree = ev.agree
        if agree is not None:
            body["agree"] = agree
            self.apprentice["decisions"] += 1
            self.apprentice["agreed"] += int(agree)
        return body

    def _record(self, ev: OpenEvent, step: Any) -> None:
        ev.journal_seq = self.journal.add("rank", ev.event_id, ev.time, self._rank_body(ev))
        ev.step = step
        self.book.open(ev)
        self._hold(ev)
        self.counters["ranks"] += 1

    def _hold(self, ev: OpenEvent) -> None:
        """Count a pending event's memory against the budget (given back when it closes)."""
        ev.cost = pending_cost(ev.context, ev.actions)
        self.pending_bytes += ev.cost

    def _uniform(self, key: str) -> float:
        digest = hashlib.blake2b(f"{self.seed}:{key}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2.0**64

    # -- rewards and activation ----------------------------------------------------------------
    def reward(self, event_id: str, value: Any, *, now: float | None = None) -> None:
        """The reward of a single-slot event."""
        value = check_reward(value, self.reward_range)
        now = self._now(now)
        self.expire(now)
        ev = self._find(event_id, multislot=False)[0]
        self._reward(ev, value, now)
        self._maybe_commit()

    def reward_multislot(self, event_id: str, rewards: Sequence[tuple[str, Any]], *, now: float | None = None) -> None:
        """Rewards for some or all slots of a multi-slot event ([(slot id, value)])."""
        now = self._now(now)
        self.expire(now)
        events = {ev.event_id: ev for ev in self._find(event_id, multislot=True)}
        checked = []
        seen = set()
        for slot_id, value in rewards:
            key = f"{event_id}#{slot_id}"
            if type(slot_id) is not str or key in seen:
                raise BanditError(f"slot {slot_id!r} is not a slot id or is rewarded twice in one request")
            seen.add(key)
            ev = events.get(key)
            if ev is None:
                EventBook.raise_closed(
                    event_id, self.book.window.closed.get(key) or self.journal.close_reason(key), slot=slot_id
                )
            self.book.check_not_final(ev)
            checked.append((ev, check_reward(value, self.reward_range)))
        if not checked:
            raise BanditError("reward must list at least one {slotId, value}")
        for ev, value in checked:
            self._reward(ev, value, now)
        self._maybe_commit()

    def activate(self, event_id: str, *, multislot: bool = False, now: float | None = None) -> None:
        """Activate a deferred event (idempotent for an active or already rewarded one)."""
        now = self._now(now)
        self.expire(now)
        try:
            events = self._find(event_id, multislot=multislot)
        except DuplicateRewardError:
            return  # closed with a reward: it was active
        for ev in events:
            if not ev.active:
                self.journal.add("activate", ev.event_id, now)
                self.book.activate(ev, now)
        self._maybe_commit()

    def _reward(self, ev: OpenEvent, value: float, now: float) -> None:
        self.book.check_not_final(ev)  # before the journal records it
        self.journal.add("reward", ev.event_id, now, {"v": value})
        self.counters["rewards"] += 1
        self.book.reward(ev, value, now)

    def _find(self, event_id: Any, *, multislot: bool) -> list[OpenEvent]:
        if type(event_id) is not str or not EVENT_ID.fullmatch(event_id):
            raise UnknownEventError("unknown event id (not a valid event id)")
        return self.book.find(event_id, multislot=multislot)

    def _closed_reason(self, event_id: str) -> str | None:
        """Why an event (or a multi-slot group) no longer in memory closed, from the journal."""
        why = self.journal.close_reason(event_id)
        if why is None and "close" in self.journal.kinds_of(event_id, slots=True):
            why = REWARDED
        return why

    # -- closing and learning ------------------------------------------------------------------
    def expire(self, now: float | None = None) -> int:
        """Close every reward window that ended before `now` (the event book's rules); how many closed."""
        n = self.book.expire(self._now(now))
        if n:
            self._maybe_commit()
        return n

    def _on_close(self, ev: OpenEvent, value: float | None, why: str, when: float) -> None:
        """The event book closed an event: learn it (unless LoggingOnly or never activated), journal
        the close, count it, and queue its row for the derived event log."""
        self.pending_bytes -= ev.cost
        learned = why != NOT_ACTIVATED and self.config.learning_mode != "LoggingOnly"
        if learned:
            assert value is not None  # only a never-activated event closes without a value
            drift = self.learn_closed(ev, value, when)
            if drift is False:  # poisoned the model: rolled back, not learned (the journal says so)
                learned = False
            else:
                self.counters["learned"] += 1
                if drift is not None:  # a drop in rewards: the event log records it
                    self._joined.append(drift)
        self.journal.add("close", ev.event_id, when, {"v": value, "why": why, "l": learned})
        self.counters[_COUNTER[why]] += 1
        if why != NOT_ACTIVATED:
            self._joined.append(joined_row(ev, value, when, why == DEFAULTED, self.policy.spec))

    def learn_closed(self, ev: OpenEvent, value: float, when: float) -> DriftEvent | None | bool:
        """Learn a closed event as the policy's own decision (here and when recovery re-learns it:
        Policy.learn_event, as the library does); the event-log row of the drop it revealed, if any.
        False if learning it made the model's scores non-finite: the model was rolled back
        (`_reject_model`) and the event is not learned."""
        drift = self.policy.learn_event(ev, value, when, self.log.writer_id)
        self._probe = (ev.step, ev.event_id, ev.context, ev.actions)
        if not scores_finite(ev.step):
            self._reject_model(ev.event_id, ev.context, ev.actions)
            return False
        return drift

    def _reject_model(self, event_id: str, context: Mapping, actions: list) -> None:
        """Learning an event made the model non-finite (a poisoned model answers a uniform pmf for
        ever, and a checkpoint would keep it across restarts): serve the last published checkpoint
        again (a fresh model if that is poisoned too), report it, and checkpoint soon, so the
        rejected model is never saved and a restart does not re-learn the event."""
        self.model_rejections += 1
        self.model_error = (
            f"learning event {event_id!r} made the model non-finite; it was not learned and "
            "the model of the last checkpoint is served"
        )
        policy = reload_checkpoint(self)
        probe = policy.replay_step(context, actions)
        if not scores_finite(probe):
            policy = self.new_policy(self.arguments)
        self.policy = policy
        self._probe = None
        for open_ev in self.book.pending.values():
            open_ev.step = policy.replay_step(open_ev.context, open_ev.actions)
        self.checkpoint_due = True

    # -- committing ----------------------------------------------------------------------------
    def take_batch(self) -> tuple[list, list]:
        """What the next group commit writes (call on the thread that ranks and rewards)."""
        joined, self._joined = self._joined, []
        return self.journal.take(), joined

    def write_batch(self, batch: tuple[list, list]) -> None:
        """Commit a batch: the journal first (the acknowledgement depends on it), then the derived
        event log (may run on a writer thread; batches must be written in the order taken)."""
        records, joined = batch
        self.journal.write(records)
        self.write_joined(joined)

    def write_joined(self, joined: list) -> None:
        """Append closed events to the derived event log. Not needed for an acknowledgement (the
        journal has them), so a server does it off its event loop, in batch order."""
        for row in joined:  # derived data: a failure here must not fail (or repeat) the journal write
            try:
                if isinstance(row, DriftEvent):
                    self.log.append_drift(row)
                else:
                    append_joined(self.log, row)
            except Exception as exc:  # noqa: BLE001 - reported in status; rebuilt from the journal
                self.eventlog_error = f"{type(exc).__name__}: {exc}"

    def requeue(self, batch: tuple[list, list]) -> None:
        """Put back a batch whose write failed, ahead of newer records, so the next commit retries
        it and the journal never skips a record the in-memory state already reflects."""
        records, joined = batch
        self.journal.requeue(records)
        self._joined[:0] = joined

    def commit(self) -> None:
        batch = self.take_batch()
        try:
            self.write_batch(batch)
        except BaseException:
            self.requeue(batch)
            raise

    def _maybe_commit(self) -> None:
        if self.autocommit:
            self.commit()

    # -- checkpoints and model replacement -----------------------------------------------------
    def prepare_checkpoint(self) -> CheckpointToken:
        """Save the model now (on the ranking thread); publish it with `publish_checkpoint` once
        every record up to its position is written. A non-finite model is never saved."""
        if self._probe is not None:  # the model can change without learning (PUT /model)
            step, event_id, context, actions = self._probe
            if step._policy is self.policy and not scores_finite(step):
                self._reject_model(event_id, context, actions)
        self.checkpoint_due = False
        return prepare_checkpoint(self)

    def publish_checkpoint(self, token: CheckpointToken) -> None:
        publish_checkpoint(self, token)

    def checkpoint(self) -> None:
        token = self.prepare_checkpoint()
        self.commit()
        self.publish_checkpoint(token)

    def replace_policy(self, policy: Policy, arguments: str | None = None) -> CheckpointToken:
        """Swap in a new model (PUT policy / PUT model): open events will learn into it. Returns the
        checkpoint to publish (the change is durable once it is)."""
        self.policy = policy
        for ev in self.book.pending.values():
            ev.step = policy.replay_step(ev.context, ev.actions)
        if arguments is not None:
            self.arguments = arguments
            self._save_config()
        return self.prepare_checkpoint()

    def set_config(self, config: ServiceConfig) -> None:
        self.config = config.check(self.reward_range)
        self.book.rules = self._rules()
        self._save_config()

    def delete_logs(self) -> int:
        """Forget every event closed up to the last checkpoint: its journal records and the derived
        event log (writer thread; open events and the model are kept). Returns records deleted."""
        n = self.journal.delete_closed(self.checkpoint_seq)
        self.log.close()
        for suffix in ("", "-wal", "-shm"):
            Path(str(self.state.events_path) + suffix).unlink(missing_ok=True)
        self.log = EventLog(self.state.events_path)
        return n

    # -- reading ---------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        n = self.apprentice["decisions"]
        return {
            "modelVersion": self.policy.model_version,
            "learningMode": self.config.learning_mode,
            "eventsPending": len(self.book),
            "eventsLearned": self.policy.n_learned,
            "pendingBytes": self.pending_bytes,
            "pendingBudgetBytes": self.max_pending_bytes,
            "journalSeq": self.journal.last_seq,
            "checkpointSeq": self.checkpoint_seq,
            "journalBytes": self.journal.disk_bytes(),
            "relearned": getattr(self, "relearned", 0),
            "eventLogError": self.eventlog_error,
            "modelRejections": self.model_rejections,
            "modelError": self.model_error,
            "apprentice": {"decisions": n, "agreement": (self.apprentice["agreed"] / n) if n else None},
            # vw:select: its members' weights and whether its ridge member is in (bandit.policies.personalizer)
            **({"mixture": self.policy.mixture_status()} if hasattr(self.policy, "mixture_status") else {}),
            **self.counters,
        }

    def close(self) -> None:
        """Commit, checkpoint, close the files and release the lock."""
        try:
            self.checkpoint()
            self.log.close()
            self.journal.close()
        finally:
            self.state.close()

    def __enter__(self) -> "DecisionService":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _new_event_id(self, event_id: Any) -> str:
        if event_id is None:
            return self._ids.new()
        check_event_id(event_id)
        if self._id_used(event_id):
            raise BanditError(f"eventId {event_id!r} was already used")
        return event_id

    def _id_used(self, event_id: str) -> bool:
        return bool(
            self.book.knows(event_id) or self.journal.kinds_of(event_id) or self.journal.kinds_of(event_id, slots=True)
        )
