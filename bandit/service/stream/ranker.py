"""A ranker: DecisionService's rank/reward/activate on a model snapshot, writing to the event stream.

Why a subclass: validation, exclusions, multi-slot, exploration, Apprentice/LoggingOnly and the
sampling keyed by (seed, event id) are DecisionService's; a ranker only changes where records go
(the stream instead of a journal) and that it never learns: it keeps no open events (the learner
holds the event book), so a reward is checked for form and range and acknowledged once the stream
has it. The HTTP app (artbandit.serve.app) and its group commit run on a ranker unchanged: the
committer's "journal write" is the stream append, and its periodic "checkpoint" loads the newest
snapshot when the model update period has passed.

Configuration, policy, model and log changes are checked here (the same 400s as the single
process) and sent to the learner as one `change` message each (`send_change`); the route then
waits for a snapshot at or past that message's position and reads the learner's outcome from it
(`change_outcome`), so the answer (and a GET after it on this ranker) shows the change applied.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import orjson

from bandit.errors import BanditError, UnknownEventError
from bandit.lifecycle.book import EventBook, RewardRules, check_reward
from bandit.lifecycle.event_ids import EventIds
from bandit.service.checks import DEFAULT_PENDING_BYTES, EVENT_ID
from bandit.service.config import ServiceConfig
from bandit.service.decision_service import DecisionService
from bandit.service.journal import JournalWriteError, RecordBuffer
from bandit.service.model_export import import_model
from bandit.service.stream import EventStream
from safeio.errors import one_line

PENDING_REFRESH_S = 0.25  # how often a ranker reads the learner's pending events' memory
STATUS_EVERY_S = 1.0  # how often a ranker publishes its status (its acknowledgements, request metrics)


class StreamRecords(RecordBuffer):
    """Stands in for the journal on a ranker: records buffer as stream messages; `write` appends them."""

    def __init__(self, stream: EventStream) -> None:
        super().__init__()
        self.stream = stream
        self.last_seq = 0  # the stream position of the last append (for /status)
        self.committed_seq = 0

    def add(self, kind: str, event_id: str, time: float, body: dict[str, Any] | None = None) -> int:
        self._buffer.append(orjson.dumps({"k": kind, "id": event_id, "t": time, "b": body or {}}))
        return 0

    def action_set(self, actions: list) -> list:
        return actions  # inline in the message; the learner's journal stores each list once

    def write(self, batch: list[bytes], **_: Any) -> None:
        if batch:
            try:
                self.last_seq = self.committed_seq = self.stream.append(batch)
            except JournalWriteError:
                raise
            except Exception as exc:  # noqa: BLE001 - a stream server gone: 503, the client retries
                raise JournalWriteError(
                    f"the event stream could not be written ({one_line(exc)}); nothing was acknowledged, retry"
                ) from None

    def commit(self) -> None:
        self.write(self.take())

    def checkpoint_wal(self) -> None:
        pass

    def delete_closed(self, *_: Any) -> int:
        return 0

    def disk_bytes(self) -> int:
        return 0

    def kinds_of(self, event_id: str, *, slots: bool = False) -> set[str]:
        return set()

    def close_reason(self, event_id: str) -> None:
        return None

    def properties(self) -> dict[str, Any]:
        """The learner's journal (GET /logs/properties), as of its last checkpoint or change."""
        learner = self.stream.statuses().get("learner", {}).get("logProperties")
        return learner or {"ranks": 0, "records": 0, "first_time": None, "last_time": None, "bytes": 0}

    def close(self) -> None:
        self.commit()


class _Nothing:
    """The event log and state folder a ranker does not have."""

    def close(self) -> None:
        pass

    def flush(self) -> None:
        pass

    writer_id = "ranker"


class Ranker(DecisionService):
    """Ranks on the newest snapshot of the stream's learner (see the module docstring)."""

    def __init__(
        self,
        stream: EventStream,
        *,
        name: str,
        seed: int = 0,
        reward_range: tuple[float, float] = (0.0, 1.0),
        max_actions: int = 50,
        bits: int = 18,
        min_probability: float = 0.01,
        model_update_s: float = 5.0,
        max_pending_bytes: int = DEFAULT_PENDING_BYTES,
        wait_s: float = 60.0,
        state_folder: str | None = None,
    ) -> None:
        # the learner's state folder when it is on this machine (evaluations read its event log)
        self.state_folder = state_folder
        self.seed = int(seed)
        self.reward_range = (float(reward_range[0]), float(reward_range[1]))
        self.max_actions = int(max_actions)
        self.max_pending_bytes = int(max_pending_bytes)
        self.pending_bytes = 0
        self.bits = int(bits)
        self.min_probability = float(min_probability)
        self.autocommit = False
        self.stream = stream
        self.name = name
        self.model_update_s = float(model_update_s)
        self.journal = StreamRecords(stream)  # type: ignore[assignment]
        self.log = self.state = _Nothing()  # type: ignore[assignment]
        # a ranker keeps no open events (the learner's book does): an empty book for what reads one
        self.book = EventBook(RewardRules(0.0), lambda *_: None, remember_closed=0)
        self.apprentice = {"decisions": 0, "agreed": 0}
        self.counters = {
            "ranks": 0,
            "rewards": 0,
            "default_rewards": 0,
            "learned": 0,
            "not_activated": 0,
            "closed_rewarded": 0,
        }
        self._joined: list = []
        self.eventlog_error = None
        self.model_rejections = 0
        self.model_error = None
        self._probe = None
        self._ids = EventIds(None)
        self.snapshot: dict[str, Any] = {}
        self.policy_name: str | None = None  # the learner's, from the snapshot (PUT /configurations/policy)
        self.model_created: float | None = None
        self._changes: dict[str, str | None] = {}
        # what the application adds to this ranker's published status (its HTTP request metrics), so
        # that a /metrics scrape reaching any ranker reports every ranker's
        self.status_extras: Any = None
        self._last_reload = 0.0
        self._closed = False
        deadline = time.monotonic() + wait_s
        while not self.reload():
            if time.monotonic() > deadline:
                raise BanditError("no model snapshot was published (is the learner running?)")
            time.sleep(0.05)
        threading.Thread(target=self._watch_pending, name="artbandit-pending", daemon=True).start()

    # -- snapshots -----------------------------------------------------------------------------
    def reload(self) -> bool:
        """Load the newest snapshot if it is not the one served; whether one is loaded."""
        self._last_reload = time.monotonic()
        meta = self.stream.snapshot_meta()
        if meta is None or meta.get("version") == self.snapshot.get("version"):
            return bool(self.snapshot)
        blob = self.stream.snapshot_blob(meta)
        if blob is None:
            return bool(self.snapshot)
        self.config = ServiceConfig.from_json(meta.get("config", {})).check(self.reward_range)
        self.book.rules = self._rules()  # the deadlines it stamps on ranks follow the learner's window
        self.arguments = meta.get("arguments", "")
        self.policy = import_model(blob, reward_range=self.reward_range, min_probability=self.min_probability, log=None)
        self.snapshot = {k: meta[k] for k in ("version", "modelVersion", "eventsLearned", "time") if k in meta}
        self.policy_name = meta.get("policyName")
        self.model_created = meta.get("modelCreated")
        self._changes = meta.get("changes") or {}
        self.checkpoint_seq = int(meta["version"])
        self.stream.put_status(self.name, self.worker_status())
        return True

    @property
    def checkpoint_due(self) -> bool:  # read by the committer's tick: time to look for a snapshot
        return time.monotonic() - self._last_reload >= self.model_update_s

    @checkpoint_due.setter
    def checkpoint_due(self, value: bool) -> None:
        pass

    def prepare_checkpoint(self) -> None:  # type: ignore[override]
        return None

    def publish_checkpoint(self, token: Any) -> None:
        self.reload()

    # -- what a ranker changes -----------------------------------------------------------------
    def _record(self, ev: Any, step: Any) -> None:
        self.journal.add("rank", ev.event_id, ev.time, self._rank_body(ev))
        self.counters["ranks"] += 1

    def _id_used(self, event_id: str) -> bool:
        return False  # only the learner knows; it drops a rank whose id was used (docs/serve.md)

    def expire(self, now: float | None = None) -> int:
        return 0

    def _watch_pending(self) -> None:
        """Take the learner's pending events' memory as this ranker's, every PENDING_REFRESH_S, so
        rank() refuses (503) once the learner's --max-pending-mb budget is full: the budget holds
        within what arrives between two learner statuses (about 0.75 s of traffic). On its own
        thread: a stream server that stops answering must not stall the event loop."""
        published = time.monotonic()
        while not self._closed:
            time.sleep(PENDING_REFRESH_S)
            try:
                learner = self.stream.statuses().get("learner") or {}
                if time.monotonic() - published >= STATUS_EVERY_S:
                    published = time.monotonic()
                    self.stream.put_status(self.name, self.worker_status())
            except Exception:  # noqa: BLE001 - the stream is away: keep the last figure
                continue
            self.pending_bytes = int(learner.get("pendingBytes") or 0)

    @staticmethod
    def _check_id(event_id: Any) -> str:
        if type(event_id) is not str or not EVENT_ID.fullmatch(event_id):
            raise UnknownEventError("unknown event id (not a valid event id)")
        return event_id

    def reward(self, event_id: str, value: Any, *, now: float | None = None) -> None:
        value = check_reward(value, self.reward_range)
        self.journal.add("reward", self._check_id(event_id), self._now(now), {"v": value})
        self.counters["rewards"] += 1

    def reward_multislot(self, event_id: str, rewards: Sequence[tuple[str, Any]], *, now: float | None = None) -> None:
        self._check_id(event_id)
        checked, seen = [], set()
        for slot_id, value in rewards:
            if type(slot_id) is not str or slot_id in seen:
                raise BanditError(f"slot {slot_id!r} is not a slot id or is rewarded twice in one request")
            seen.add(slot_id)
            checked.append([slot_id, check_reward(value, self.reward_range)])
        if not checked:
            raise BanditError("reward must list at least one {slotId, value}")
        self.journal.add("mreward", event_id, self._now(now), {"r": checked})
        self.counters["rewards"] += len(checked)

    def activate(self, event_id: str, *, multislot: bool = False, now: float | None = None) -> None:
        self.journal.add("activate", self._check_id(event_id), self._now(now), {"ms": multislot})

    def send_change(self, op: str, fields: dict[str, Any] | None = None, upload: bytes | None = None) -> int:
        """Append a change for the learner (alone: it gets a stream position of its own), after
        storing an uploaded model; its position. Raises JournalWriteError (503) if not stored."""
        body: dict[str, Any] = {"op": op, **(fields or {})}
        try:
            if upload is not None:
                body["upload"] = f"upload-{hashlib.sha256(upload).hexdigest()[:32]}-{time.time_ns()}"
                self.stream.put_upload(body["upload"], upload)
            return self.stream.append([orjson.dumps({"k": "change", "id": "", "t": time.time(), "b": body})])
        except JournalWriteError:
            raise
        except Exception as exc:  # noqa: BLE001 - a stream server gone: 503, the client retries
            raise JournalWriteError(
                f"the event stream could not be written ({one_line(exc)}); nothing was changed, retry"
            ) from None

    def change_outcome(self, seq: int) -> bool:
        """Whether the change at stream position `seq` is applied in the snapshot served (reload
        first); raises BanditError with the learner's message if the learner refused it."""
        if int(self.snapshot.get("version") or 0) < seq:
            return False
        error = self._changes.get(str(seq))
        if error:
            raise BanditError(error)
        return True

    def requeue(self, batch: tuple[list, list]) -> None:
        """A failed append is not retried: its requests were answered 503 (not stored; the client
        retries). The single process requeues because its memory already holds the records' effects;
        a ranker holds none, and a message re-sent after its 503 would be learned unacknowledged."""
        self.journal.last_seq = self.journal.committed_seq

    def _refuse(self, *_: Any, **__: Any) -> Any:
        raise BanditError(
            "not available with --workers/--stream: applying an evaluation and rolling back go to a "
            "single-process `artbandit serve` on the learner's state folder (docs/serve.md)"
        )

    set_config = replace_policy = delete_logs = _refuse  # type: ignore[assignment]

    # -- reading -------------------------------------------------------------------------------
    def worker_status(self) -> dict[str, Any]:
        return {
            "role": "ranker",
            "pid": os.getpid(),
            "time": time.time(),
            "snapshotVersion": self.snapshot.get("version"),
            "modelVersion": self.snapshot.get("modelVersion"),
            "ranks": self.counters["ranks"],
            "rewards": self.counters["rewards"],
            **(self.status_extras() if self.status_extras is not None else {}),
        }

    def status(self) -> dict[str, Any]:
        s = super().status()
        workers = self.stream.statuses()
        workers[self.name] = self.worker_status()
        learner = workers.get("learner", {})
        # the event counters (/metrics ranks_total ...) and Apprentice agreement are the learner's:
        # it applies what every ranker acknowledged, so they count the whole service, not the ranker
        # a request happened to reach (a ranker's own acknowledgements are under "workers")
        s.update(learner.get("counters") or {})
        if "apprentice" in learner:
            s["apprentice"] = learner["apprentice"]
        last = self.stream.last_seq()
        lag = max(0, last - int(learner.get("streamSeq", 0)))
        s.update(
            {
                "role": "ranker",
                "worker": self.name,
                "snapshotVersion": self.snapshot.get("version"),
                "eventsLearned": self.snapshot.get("eventsLearned", 0),
                "eventsPending": learner.get("eventsPending", 0),  # the learner holds the open events
                # from the same status as eventsPending (the ranker's own copy refreshes every 0.25 s)
                "pendingBytes": learner.get("pendingBytes", self.pending_bytes),
                "journalSeq": last,
                "learnerSeq": learner.get("streamSeq"),
                "learnerLag": lag,
                "workers": workers,
                "gauges": {
                    "snapshot_version": self.snapshot.get("version") or 0,
                    "learner_lag": lag,
                    "stream_seq": last,
                },
            }
        )
        return s

    def close(self) -> None:
        self._closed = True
        self.journal.commit()
