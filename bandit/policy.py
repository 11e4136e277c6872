"""The Rank/Reward machinery every policy shares: event ids, pending events, reward windows,
expiry with a default reward, validation, the probability floor, sampling, logging and privacy.

Subclasses only say how to score (`_pmf`) and how to learn (`_update`). Keeping this in one place
means the VW personalizer and the baselines log and handle rewards identically, so simulations
compare policies, not bookkeeping.
"""
from __future__ import annotations

import heapq
import math
import os
import random
import time as _time
from bisect import bisect_right
from collections import OrderedDict
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, Mapping, Sequence

import numpy as np

from bandit.errors import (
    BanditError,
    DuplicateRewardError,
    ExpiredEventError,
    InvalidRewardError,
    UnknownEventError,
)
from bandit.eventlog import EventLog
from bandit.features import ActionEntry, ActionRegistry, check_context, context_json
from bandit.privacy import UserHasher

AGGREGATIONS = ("first", "sum")


@dataclass(frozen=True)
class Decision:
    """What `rank` chose and why: the full pmf and the probability the choice was sampled with."""

    event_id: str
    action_id: str
    index: int            # index into the actions list given to rank
    probability: float
    pmf: list[float]      # in the order of the given actions
    ranking: list[str]    # action ids, most to least probable


@dataclass
class _Pending:
    context: dict
    prepared: Any
    entries: list[ActionEntry]
    index: int
    probability: float
    deadline: float
    seq: int = 0
    total: float = 0.0
    rewarded: bool = False


def apply_floor(pmf: Sequence[float], floor: float) -> list[float]:
    """Mix with uniform just enough that every action has at least `floor` probability.

    Why: a logged probability near zero makes inverse-propensity weights explode, and an action
    that is never shown can never be learned about. Capped at uniform when K * floor >= 1.
    Pure Python: for a handful of actions it is several times faster than numpy.
    """
    if isinstance(pmf, np.ndarray):
        pmf = pmf.tolist()  # Python floats: iterating numpy scalars is slow
    k = len(pmf)
    if min(pmf) < 0.0:
        pmf = [p if p > 0.0 else 0.0 for p in pmf]
    total = sum(pmf)
    if not total > 0.0 or total != total:
        return [1.0 / k] * k
    probs = [p / total for p in pmf]  # VW's pmf is float32: renormalize in double
    low = min(probs)
    floor = min(floor, 1.0 / k)
    if low < floor:
        # smallest mixing weight w with (1 - w) * low + w / k >= floor
        w = (floor - low) / (1.0 / k - low)
        keep, add = 1.0 - w, w / k
        probs = [keep * p + add for p in probs]
    return probs


# How long an event waits for its reward before it learns the default reward. Azure Personalizer's
# default was 10 minutes; with 0 a reward arriving a moment later on the wall clock is rejected as
# expired, so 0 is only for callers that pass their own clock (simulations, tests).
DEFAULT_REWARD_WAIT_S = 600.0


class ReplayStep:
    """One logged event seen by a policy offline: its pmf now, and (optionally) learning after.

    Why a step object rather than predict() then learn(): both would validate the actions and
    format the same context; the step keeps that work (the prepared context and the looked-up
    actions) so learning from the event costs only the update. Progressive replay uses it.
    """

    __slots__ = ("pmf", "_policy", "_prepared", "_entries")

    def __init__(self, policy: "Policy", prepared: Any, entries: list[ActionEntry], pmf: list[float]):
        self.pmf = pmf
        self._policy = policy
        self._prepared = prepared
        self._entries = entries

    def learn(self, chosen_index: int, reward: float, probability: float) -> None:
        """Same as Policy.learn for this event's context and actions."""
        self._policy._learn_prepared(self._prepared, self._entries, chosen_index, reward, probability)


class Policy:
    """Common base: rank/reward/expire/predict/learn/close with event bookkeeping and logging."""

    name = "policy"

    def __init__(
        self,
        *,
        min_probability: float = 0.01,
        log: str | os.PathLike | EventLog | None = None,
        reward_wait_s: float = DEFAULT_REWARD_WAIT_S,
        default_reward: float = 0.0,
        reward_range: tuple[float, float] = (0.0, 1.0),
        aggregation: str = "first",
        seed: int = 0,
        secret: str | bytes | None = None,
        context_allowlist: Sequence[str] | None = None,
        remember_closed: int = 100_000,
    ) -> None:
        lo, hi = (float(reward_range[0]), float(reward_range[1]))
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise BanditError(f"reward_range must be two finite numbers low < high, got {reward_range!r}")
        if aggregation not in AGGREGATIONS:
            raise BanditError(f"aggregation must be one of {', '.join(AGGREGATIONS)}, got {aggregation!r}")
        if not (0.0 <= float(min_probability) < 1.0):
            raise BanditError(f"min_probability must be in [0, 1), got {min_probability!r}")
        if not (float(reward_wait_s) >= 0.0):
            raise BanditError(f"reward_wait_s must be >= 0, got {reward_wait_s!r}")
        self.reward_range = (lo, hi)
        self.default_reward = self._check_value(default_reward, "default_reward")
        self.min_probability = float(min_probability)
        self.reward_wait_s = float(reward_wait_s)
        self.aggregation = aggregation
        self.seed = int(seed)
        self.context_allowlist = None if context_allowlist is None else frozenset(context_allowlist)
        self.n_learned = 0
        self.model_id = random.Random(self.seed ^ 0x5EED).getrandbits(48).to_bytes(6, "big").hex()
        self._rng = np.random.default_rng(self.seed)
        self._ids = random.Random(self.seed)
        self._hasher = UserHasher(secret)
        self._registry = ActionRegistry()
        self._ctx_schema: dict[str, set[str]] = {}
        self._pending: dict[str, _Pending] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = 0
        self._closed: OrderedDict[str, str] = OrderedDict()  # event id -> "rewarded" | "expired"
        self._remember_closed = int(remember_closed)
        self.log: EventLog | None = None
        if log is not None:
            self.log = log if isinstance(log, EventLog) else EventLog(log)
        self._salt_ids()

    def _salt_ids(self) -> None:
        """Appending to a non-empty log (a restart, a reloaded model): move the event-id generator
        to a sequence that depends on the log's length, so ids never repeat earlier runs' ids while
        a fresh run stays fully determined by its seed."""
        if self.log is not None:
            existing = len(self.log)
            if existing:
                self._ids.seed(f"{self._ids.getrandbits(64)}:{existing}")

    # -- what subclasses provide -------------------------------------------------------------
    def _prepare(self, context: dict) -> Any:
        """The context in the form `_pmf`/`_update` want (computed once per decision)."""
        return context

    def _pmf(self, prepared: Any, entries: list[ActionEntry]) -> np.ndarray:
        raise NotImplementedError

    def _update(self, prepared: Any, entries: list[ActionEntry], index: int, reward01: float,
                probability: float) -> None:
        raise NotImplementedError

    # -- public API ----------------------------------------------------------------------------
    @property
    def spec(self) -> str:
        return self.name

    @property
    def model_version(self) -> str:
        """Model id plus number of learned events: exactly which model made a decision."""
        return f"{self.model_id}.{self.n_learned}"

    def predict(self, context: Mapping, actions: Sequence[Mapping]) -> np.ndarray:
        """The pmf over `actions` (floor applied): no sampling, no logging, no state change."""
        prepared = self._prepare(self._filter(context))
        return np.array(apply_floor(self._pmf(prepared, self._registry.lookup(actions)), self.min_probability))

    def rank(
        self,
        context: Mapping,
        actions: Sequence[Mapping],
        *,
        user_id: str | None = None,
        event_id: str | None = None,
        now: float | None = None,
    ) -> Decision:
        """Choose an action by sampling the pmf, remember the event until its reward, log it."""
        now = _time.time() if now is None else float(now)
        if self._heap and self._heap[0][0] < now:
            self.expire(now=now)
        ctx = self._filter(context)
        schema = self._ctx_schema
        for ns, feats in ctx.items():
            names = schema.get(ns)
            if names is None:
                names = schema[ns] = set()
            names.update(feats)
        prepared = self._prepare(ctx)
        entries = self._registry.lookup(actions)
        probs = apply_floor(self._pmf(prepared, entries), self.min_probability)
        # inverse-CDF draw; u < sum(probs) so the index is valid (min() guards rounding)
        index = min(bisect_right(list(accumulate(probs)), self._rng.random()), len(probs) - 1)
        if event_id is None:
            event_id = "%032x" % self._ids.getrandbits(128)
        elif type(event_id) is not str or not event_id:
            raise BanditError(f"event_id must be a non-empty string, got {event_id!r}")
        if event_id in self._pending or event_id in self._closed:
            raise BanditError(f"event id {event_id!r} was already used")
        probability = probs[index]
        deadline = now + self.reward_wait_s
        self._seq += 1
        self._pending[event_id] = _Pending(ctx, prepared, entries, index, probability, deadline, self._seq)
        heapq.heappush(self._heap, (deadline, self._seq, event_id))
        order = sorted(range(len(probs)), key=probs.__getitem__, reverse=True)
        if self.log is not None:
            self.log.append(
                event_id, now, self.model_version, self.spec,
                None if user_id is None else self._hasher(user_id),
                context_json(ctx),
                tuple(e.uid for e in entries), [e.json_text for e in entries],
                probs, index, entries[index].id, probability,
            )
        return Decision(event_id, entries[index].id, index, probability, probs,
                        [entries[i].id for i in order])

    def reward(self, event_id: str, value: float, *, now: float | None = None) -> None:
        """Record the reward of a ranked event. 'first': final at once and learned; 'sum': added
        up until the window closes. Unknown/expired/duplicate events and bad values raise."""
        value = self._check_value(value, "reward")
        now = _time.time() if now is None else float(now)
        if self._heap and self._heap[0][0] < now:
            self.expire(now=now)
        pending = self._pending.get(event_id)
        if pending is None:
            state = self._closed.get(event_id)
            if state == "expired":
                raise ExpiredEventError(f"event {event_id!r}: reward window closed, default reward was used")
            if state == "rewarded":
                raise DuplicateRewardError(f"event {event_id!r} already has its final reward")
            raise UnknownEventError(f"unknown event id {event_id!r}")
        if self.aggregation == "first":
            self._close(event_id, pending, value, now, defaulted=False)
        else:
            pending.total += value
            pending.rewarded = True

    def expire(self, *, now: float | None = None) -> int:
        """Close every reward window that ended before `now`: events without a reward learn the
        default reward, 'sum' events learn their total. Returns how many events closed."""
        now = _time.time() if now is None else float(now)
        n = 0
        heap = self._heap
        while heap and heap[0][0] < now:
            deadline, _, event_id = heapq.heappop(heap)
            pending = self._pending.get(event_id)
            if pending is None:
                continue
            if pending.rewarded:
                self._close(event_id, pending, pending.total, deadline, defaulted=False)
            else:
                self._close(event_id, pending, self.default_reward, deadline, defaulted=True)
            n += 1
        return n

    def learn(self, context: Mapping, actions: Sequence[Mapping], chosen_index: int, reward: float,
              probability: float) -> None:
        """Off-policy update from a logged event (warm start, replay): reward in reward_range,
        probability = the logging policy's probability of the chosen action."""
        self._learn_prepared(self._prepare(self._filter(context)), self._registry.lookup(actions),
                             chosen_index, reward, probability)

    def replay_step(self, context: Mapping, actions: Sequence[Mapping]) -> ReplayStep:
        """`predict` (pmf as a list, floor applied, no state change) plus a handle to learn from
        the same event afterwards without redoing the parsing: see ReplayStep."""
        prepared = self._prepare(self._filter(context))
        entries = self._registry.lookup(actions)
        return ReplayStep(self, prepared, entries,
                          apply_floor(self._pmf(prepared, entries), self.min_probability))

    def _learn_prepared(self, prepared: Any, entries: list[ActionEntry], chosen_index: int, reward: float,
                        probability: float) -> None:
        reward = self._check_value(reward, "reward")
        if not (0 <= int(chosen_index) < len(entries)):
            raise BanditError(f"chosen_index {chosen_index} out of range for {len(entries)} actions")
        probability = float(probability)
        if not (0.0 < probability <= 1.0):
            raise BanditError(f"probability must be in (0, 1], got {probability!r}")
        self._update(prepared, entries, int(chosen_index), self._to01(reward), probability)
        self.n_learned += 1

    def reseed(self, seed: int | None) -> None:
        """Restart the sampling and event-id generators (None: fresh OS entropy), e.g. so that
        one-shot ranks from the same saved model do not repeat the same draw and event id."""
        self._rng = np.random.default_rng(seed)
        self._ids = random.Random(seed)

    def flush(self) -> None:
        """Commit the event log's buffered rows."""
        if self.log is not None:
            self.log.flush()

    def close(self) -> None:
        """Flush and close the event log (pending events stay pending; call expire() first to
        learn from them)."""
        if self.log is not None:
            self.log.close()

    def feature_schema(self) -> dict[str, Any]:
        """Feature names seen in ranked contexts (per namespace) and in current actions."""
        return {
            "context": {ns: sorted(names) for ns, names in sorted(self._ctx_schema.items())},
            "actions": self._registry.feature_names(),
        }

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    # -- helpers -------------------------------------------------------------------------------
    def _close(self, event_id: str, pending: _Pending, value: float, when: float, defaulted: bool) -> None:
        del self._pending[event_id]
        lo, hi = self.reward_range
        value = min(max(value, lo), hi)  # a 'sum' can overshoot the range
        self._update(pending.prepared, pending.entries, pending.index, self._to01(value), pending.probability)
        self.n_learned += 1
        closed = self._closed
        closed[event_id] = "expired" if defaulted else "rewarded"
        if len(closed) > self._remember_closed:
            closed.popitem(last=False)
        if self.log is not None:
            self.log.set_reward(event_id, value, when, defaulted)

    def _to01(self, value: float) -> float:
        lo, hi = self.reward_range
        return (value - lo) / (hi - lo)

    def _check_value(self, value: Any, what: str) -> float:
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise InvalidRewardError(f"{what} must be a number, got {value!r}") from None
        lo, hi = self.reward_range
        if not math.isfinite(value):
            raise InvalidRewardError(f"{what} is {value} (must be finite)")
        if not (lo <= value <= hi):
            raise InvalidRewardError(f"{what} {value} is outside the reward range [{lo}, {hi}]")
        return value

    def _filter(self, context: Mapping) -> dict:
        check_context(context)
        allow = self.context_allowlist
        if allow is None:
            return context if type(context) is dict else dict(context)
        return {ns: f for ns, f in context.items() if ns in allow}

    # -- state for save/load -------------------------------------------------------------------
    def _base_state(self) -> dict:
        return {
            "n_learned": self.n_learned,
            "model_id": self.model_id,
            "rng": self._rng.bit_generator.state,
            "ids": _random_state_to_json(self._ids.getstate()),
            "seq": self._seq,
            "pending": [
                {"event_id": eid, "context": p.context,
                 "actions": [{"id": e.id, "features": e.features} for e in p.entries],
                 "index": p.index, "probability": p.probability, "deadline": p.deadline,
                 "seq": p.seq, "total": p.total, "rewarded": p.rewarded}
                for eid, p in self._pending.items()
            ],
            "closed": list(self._closed.items()),
            "context_schema": {ns: sorted(n) for ns, n in self._ctx_schema.items()},
        }

    def _restore_base_state(self, state: dict) -> None:
        self.n_learned = int(state["n_learned"])
        self.model_id = state["model_id"]
        self._rng.bit_generator.state = state["rng"]
        self._ids.setstate(_random_state_from_json(state["ids"]))
        self._seq = int(state["seq"])
        for item in state.get("pending", []):
            entries = self._registry.lookup(item["actions"])
            p = _Pending(item["context"], self._prepare(item["context"]), entries, item["index"], item["probability"], item["deadline"],
                         item["seq"], item["total"], item["rewarded"])
            self._pending[item["event_id"]] = p
        self._heap = [(p.deadline, p.seq, eid) for eid, p in self._pending.items()]
        heapq.heapify(self._heap)
        self._closed = OrderedDict((k, v) for k, v in state.get("closed", []))
        self._salt_ids()
        self._ctx_schema = {ns: set(n) for ns, n in state.get("context_schema", {}).items()}


def _random_state_to_json(state: tuple) -> list:
    return [state[0], list(state[1]), state[2]]


def _random_state_from_json(state: list) -> tuple:
    return (state[0], tuple(state[1]), state[2])
