"""The learner: reads the event stream in order and applies it to a DecisionService.

Why a DecisionService and not a second implementation: the join of rewards to ranks by event id,
the reward window, default rewards, activation, Apprentice/LoggingOnly, the drift test and the
checkpoints are the service's own code (bandit.service.decision_service, bandit.service.recovery); the learner feeds
it what the rankers decided, with the rankers' clock (each message's time), so the result depends
only on the stream: learning the same stream twice, or in two pieces across a crash, gives the same
model.

Nothing learned twice: the journal batch made from messages up to position p is committed together
with p (bandit.service.journal `stream_seq`), in one transaction. A learner killed at any moment restarts
from its checkpoint plus its journal (the existing recovery) and resumes the stream after the p its
journal holds. Nothing lost: rankers acknowledge only what the stream holds.

Configuration, policy, model and log changes (PUT /configurations/*, PUT/DELETE /model, DELETE
/logs sent to any ranker) are `change` messages: the learner applies them between the events around
them in the stream, checkpoints, and only then commits the message's position, so a learner killed
half-way applies the change again (every change is idempotent: the same body merged onto the same
configuration, the same fresh model, the same upload). It publishes a snapshot at once, naming the
outcome, which the ranker that took the request waits for (docs/serve.md "Past one process").

Messages the service refuses (a reward for an unknown, closed or already-rewarded event, a reused
event id) are dropped and counted: a ranker cannot know the event book, so it acknowledges any
well-formed reward (as Personalizer's own REST service does) and the learner decides.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

import orjson

from bandit.errors import BanditError
from bandit.lifecycle.book import OpenEvent
from bandit.service import wire
from bandit.service.config import DEFAULT_ARGUMENTS
from bandit.service.decision_service import DecisionService, model_finite
from bandit.service.model_export import export_model, import_model
from bandit.service.stream import EventStream
from safeio.errors import one_line

log = logging.getLogger("artbandit.learner")
TICK_S = 0.25  # how often an idle learner appends a clock message when a reward window is due


def apply_message(svc: DecisionService, message: bytes | dict) -> bool:
    """Apply one stream message to the service (in memory; the caller commits). False if refused."""
    m = orjson.loads(message) if isinstance(message, (bytes, bytearray, memoryview)) else message
    kind, event_id, now, body = m["k"], m.get("id", ""), float(m["t"]), m.get("b") or {}
    svc.expire(now)
    try:
        if kind == "rank":
            if svc._id_used(event_id):
                return False
            ev = OpenEvent(
                event_id,
                now,
                body["dl"],
                body["ch"],
                body["p"],
                context=body["c"],
                actions=body["as"],
                pmf=body["pmf"],
                mode=body["m"],
                active=body["act"],
                group=body.get("g"),
                model_version=body.get("v", ""),
                agree=body.get("agree"),
            )
            svc._record(ev, svc.policy.replay_step(ev.context, ev.actions))
        elif kind == "reward":
            svc.reward(event_id, body["v"], now=now)
        elif kind == "mreward":
            svc.reward_multislot(event_id, [tuple(r) for r in body["r"]], now=now)
        elif kind == "activate":
            svc.activate(event_id, multislot=bool(body.get("ms")), now=now)
        elif kind != "tick":
            return False
    except BanditError:
        return False
    return True


DEFAULT_POLICY_NAME = "artbandit"  # the policy's name until a PUT /configurations/policy names it
CHANGE_OUTCOMES = 100  # how many recent changes' outcomes a snapshot names (a ranker waits for its own)


def apply_change(svc: DecisionService, body: dict, stream: EventStream) -> str | None:
    """Apply one change message's body to the service (its configuration, policy, model or logs);
    the new policy name for a policy change, else None. Raises BanditError if refused (nothing changed)."""
    op = body.get("op")
    if op == "config":
        svc.set_config(wire.service_config_from_wire(svc.config, body["body"], svc.reward_range))
    elif op == "policy":
        arguments = body.get("arguments") or DEFAULT_ARGUMENTS
        svc.replace_policy(svc.new_policy(arguments), arguments)
        return body.get("name") or DEFAULT_POLICY_NAME
    elif op == "model":
        blob = stream.get_upload(str(body["upload"]))
        if blob is None:
            raise BanditError("the uploaded model is no longer in the event stream's store: upload it again")
        policy = import_model(blob, reward_range=svc.reward_range, min_probability=svc.min_probability, log=None)
        if not model_finite(policy):
            raise BanditError("the uploaded model is non-finite (NaN or infinite state): refused")
        svc.replace_policy(policy)
    elif op == "reset_model":
        svc.replace_policy(svc.new_policy(svc.arguments))
    elif op == "delete_logs":
        svc.checkpoint()  # as the single process: what the logs lose, the checkpoint keeps
        svc.delete_logs()
    else:
        raise BanditError(f"unknown change {op!r}")
    return None


class Learner:
    """Tail the stream into a DecisionService; publish snapshots and statuses (see the module docstring)."""

    def __init__(
        self,
        svc: DecisionService,
        stream: EventStream,
        *,
        model_update_s: float = 5.0,
        batch: int = 2000,
        keep_s: float = 86400.0,
    ) -> None:
        self.svc = svc
        self.stream = stream
        self.model_update_s = float(model_update_s)
        self.batch = int(batch)
        self.keep_s = float(keep_s)
        self.position = svc.journal.stream_seq()
        self.applied = 0
        self.dropped = 0
        self.recent_drops: list[str] = []  # the last messages refused, for /status (stream seq:kind:event id)
        self.snapshot_version = -1
        self._last_snapshot = 0.0
        self._last_checkpoint = time.monotonic()
        self._last_tick = 0.0
        self._last_status = 0.0
        self._publish_now = False
        meta = stream.snapshot_meta() or {}
        self.policy_name = str(meta.get("policyName") or DEFAULT_POLICY_NAME)
        self.model_created = float(meta.get("modelCreated") or time.time())
        # seq -> error (None: applied): the journal's, committed with each change's position (the
        # published snapshot's may miss the last ones: a learner killed before it published them)
        self.changes: dict[str, str | None] = {**(meta.get("changes") or {}), **svc.journal.change_outcomes()}
        # GET /logs/properties on a ranker: counted at start, checkpoints and changes (a scan of the journal)
        self.log_properties = svc.journal.properties()

    def step(self) -> int:
        """Apply the next batch of messages and commit it with its position; how many were read."""
        messages = self.stream.read(self.position, self.batch)
        svc = self.svc
        for i, (seq, body) in enumerate(messages):
            if body[:12] == b'{"k":"change':
                # what came before is committed with its own position; the change with its own
                self._commit(messages[i - 1][0] if i else self.position)
                self._change(int(seq), orjson.loads(body))
                continue
            if apply_message(svc, body):
                self.applied += 1
            else:
                self.dropped += 1
                m = orjson.loads(body)
                self.recent_drops = (self.recent_drops + [f"{seq}:{m['k']}:{m.get('id', '')}"])[-10:]
        if messages and int(messages[-1][0]) > self.position:
            self._commit(int(messages[-1][0]))
        return len(messages)

    def _commit(self, position: int) -> None:
        records, joined = self.svc.take_batch()
        if records or position != self.position:
            self.svc.journal.write(records, stream_seq=position)
        self.position = position
        self.svc.write_joined(joined)

    def _change(self, seq: int, m: dict) -> None:
        """Apply a change message at stream position `seq`: checkpoint the result, then commit `seq`
        (a crash in between applies it again, to the same result), and publish a snapshot at once."""
        svc = self.svc
        body = m.get("b") or {}
        svc.expire(float(m["t"]))
        error = None
        try:
            name = apply_change(svc, body, self.stream)
            if body.get("op") in ("policy", "model", "reset_model"):
                self.model_created = float(m["t"])
                if name is not None:
                    self.policy_name = name
            self.applied += 1
        except Exception as exc:  # noqa: BLE001 - refused: nothing changed, the ranker answers 400
            error = one_line(exc) if isinstance(exc, BanditError) else one_line(exc, typed=True)
            self.dropped += 1
            self.recent_drops = (self.recent_drops + [f"{seq}:change:{body.get('op')}"])[-10:]
        svc.checkpoint()  # the new model, configuration or logs are durable before the position
        changes = {**self.changes, str(seq): error}
        while len(changes) > CHANGE_OUTCOMES:
            del changes[next(iter(changes))]
        # the outcome is committed with the position: a learner killed before it published the
        # snapshot naming it does not apply the change again, so only its journal can tell a ranker
        svc.journal.write([], stream_seq=seq, change_outcomes=changes)
        self.changes = changes
        self.position = seq
        self._last_checkpoint = time.monotonic()
        if body.get("upload"):
            self.stream.drop_upload(str(body["upload"]))
        self.log_properties = svc.journal.properties()
        self._publish_now = True

    def publish(self, force: bool = False) -> bool:
        """Publish a model snapshot if the model moved on and the update period has passed."""
        now = time.monotonic()
        force = force or self._publish_now
        if not force and (self.position == self.snapshot_version or now - self._last_snapshot < self.model_update_s):
            return False
        policy = self.svc.policy
        meta = {
            "version": self.position,
            "modelVersion": policy.model_version,
            "eventsLearned": policy.n_learned,
            "time": time.time(),
            "config": self.svc.config.to_json(),
            "arguments": self.svc.arguments,
            "policyName": self.policy_name,
            "modelCreated": self.model_created,
            "changes": self.changes,
        }
        self.stream.publish_snapshot(meta, export_model(policy))
        self.snapshot_version = self.position
        self._last_snapshot = now
        self._publish_now = False
        return True

    def status(self) -> dict[str, Any]:
        last = self.stream.last_seq()
        s = self.svc.status()
        return {
            "role": "learner",
            "pid": os.getpid(),
            "time": time.time(),
            "streamSeq": self.position,
            "streamLastSeq": last,
            "lag": max(0, last - self.position),
            "snapshotVersion": self.snapshot_version,
            "applied": self.applied,
            "dropped": self.dropped,
            "recentDrops": self.recent_drops,
            "eventsLearned": s["eventsLearned"],
            "eventsPending": s["eventsPending"],
            "pendingBytes": s["pendingBytes"],
            "learned": s["learned"],
            # the event counters over every ranker (each one's own are its acknowledgements only)
            "counters": {name: s[name] for name in self.svc.counters},
            "apprentice": s["apprentice"],
            "checkpointSeq": s["checkpointSeq"],
            "logProperties": self.log_properties,
        }

    def housekeeping(self) -> None:
        """Idle work: a clock message when a reward window is due, checkpoints, status, retention."""
        svc = self.svc
        now = time.time()
        if svc.book.next_deadline() < now and now - self._last_tick >= TICK_S:
            # the windows close on the stream's clock, so a replay closes them at the same place
            self.stream.append([orjson.dumps({"k": "tick", "t": now})])
            self._last_tick = now
        if svc.checkpoint_due or time.monotonic() - self._last_checkpoint >= svc.config.model_export_s:
            svc.checkpoint()
            self._last_checkpoint = time.monotonic()
            # messages the checkpoint covers, past retention, are not needed to recover
            self.stream.trim(self.position, now - self.keep_s)
            self.log_properties = svc.journal.properties()
        if now - self._last_status >= 0.5:
            self.stream.put_status("learner", self.status())
            self._last_status = now

    def run(self, stopping: Callable[[], bool], idle_s: float = 0.005) -> None:
        """Learn until `stopping()`; then commit, publish and checkpoint."""
        self.publish(force=True)
        self.stream.put_status("learner", self.status())
        while not stopping():
            n = self.step()
            self.publish()
            self.housekeeping()
            if n == 0:
                time.sleep(idle_s)
        self.step()
        self.publish(force=True)
        self.svc.checkpoint()
        self.stream.put_status("learner", self.status())
