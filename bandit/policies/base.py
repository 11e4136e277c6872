"""The Rank/Reward machinery every policy shares: validation, sampling, logging, privacy, recovery.

Subclasses only say how to score (`_pmf`) and how to learn (`_update`). Keeping this in one place
means the VW policies and the baselines log and handle rewards identically, so simulations compare
policies, not bookkeeping. An event's life after its rank (reward window, aggregation, default reward,
the errors of late or repeated rewards) is the event book's (bandit.lifecycle.book), the same one the
decision service uses; the floor and the draw are bandit.sampling's, the shared options bandit.options'.
"""

from __future__ import annotations

import abc
import math
import os
import random
import time as _time
from typing import Any, Mapping, Sequence

import numpy as np

from bandit.errors import BanditError, UnknownEventError
from bandit.features import ActionEntry, ActionRegistry, check_context, context_json, validated_context_json
from bandit.lifecycle.book import Decision, EventBook, OpenEvent, RewardRules, check_reward, decision, ranking
from bandit.lifecycle.event_ids import EventIds
from bandit.lifecycle.window import DEFAULTED
from bandit.log.eventlog import EventLog
from bandit.log.schema import DriftEvent
from bandit.options import PolicyOptions, real
from bandit.privacy import UserHasher
from bandit.sampling import apply_floor, sample_index, settled_scale

__all__ = ["Decision", "Policy", "ReplayStep", "apply_floor"]


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

    def learn(self, chosen_index: int, reward: float, probability: float, *, own_decision: bool = False) -> None:
        """Same as Policy.learn for this event's context and actions. `own_decision=True` when this
        policy itself made the logged choice (the service learning its own decisions, recovery
        re-learning them): then it learns exactly as `reward()` would, not as from another's log."""
        learn = self._policy._learn_own if own_decision else self._policy._learn_prepared
        learn(self._prepared, self._entries, chosen_index, reward, probability)


def _when(now: Any) -> float:
    """The wall clock, or the caller's finite time (a NaN deadline would never expire)."""
    if now is None:
        return _time.time()
    if type(now) is float and now - now == 0.0:  # the common case, without the ABC checks below
        return now
    value = real(now, "now")
    if not math.isfinite(value):
        raise BanditError(f"now must be a finite time in seconds, got {now!r}")
    return value


class Policy(abc.ABC):
    """Common base: rank/reward/expire/predict/learn/close with event bookkeeping and logging.

    Run-time arguments (never saved with a model): `log` (an EventLog or a path; an existing log's
    unrewarded events are recovered unless `recover=False`), `secret` (user-id hashing key),
    `id_seed` (deterministic event ids; default: 128 random bits from the OS per event). Everything
    else is a PolicyOptions field, passed by keyword or as `options=`.
    """

    name = "policy"
    # True when `_prepare` rejects every value `context_json` would (so the log can skip re-checking)
    _prepare_validates = False

    def __init__(
        self,
        *,
        log: str | os.PathLike | EventLog | None = None,
        secret: str | bytes | None = None,
        id_seed: int | None = None,
        recover: bool = True,
        options: PolicyOptions | None = None,
        **option_values: Any,
    ) -> None:
        if options is None:
            unknown = sorted(set(option_values) - set(PolicyOptions.names()))
            if unknown:
                raise BanditError(f"{type(self).__name__} does not take option(s) {', '.join(map(repr, unknown))}")
            options = PolicyOptions(**option_values)
        elif option_values:
            raise BanditError("pass policy options either as options= or as keywords, not both")
        self.policy_options = options
        self.reward_range = options.reward_range
        self.default_reward = options.default_reward
        self.min_probability = options.min_probability
        self.exploration_budget = options.exploration_budget  # None while a drift boost lasts
        self.exploration_decay = options.exploration_decay
        self.exploration_scale = 1.0  # what the budget's floor is multiplied by now (settle_exploration)
        self.reward_wait_s = options.reward_wait_s
        self.aggregation = options.aggregation
        rules = RewardRules(options.reward_wait_s, options.aggregation, options.default_reward, options.reward_range)
        self.seed = options.seed
        self.context_allowlist = None if options.context_allowlist is None else frozenset(options.context_allowlist)
        self.n_learned = 0
        self.model_id = random.Random(self.seed ^ 0x5EED).getrandbits(48).to_bytes(6, "big").hex()
        self._rng = np.random.default_rng(self.seed)
        self._ids = EventIds(id_seed, taken=self._id_taken)
        self._hasher = UserHasher(secret)
        self._registry = ActionRegistry()
        self._ctx_schema: dict[str, set[str]] = {}
        self._book = EventBook(rules, self._on_close, remember_closed=options.remember_closed)
        self.log: EventLog | None = None
        if log is not None:
            self.log = log if isinstance(log, EventLog) else EventLog(log)
        self._to_recover = self.log is not None and recover

    # -- what subclasses provide -------------------------------------------------------------
    def _prepare(self, context: dict) -> Any:
        """The context in the form `_pmf`/`_update` want (computed once per decision)."""
        return context

    @abc.abstractmethod
    def _pmf(self, prepared: Any, entries: list[ActionEntry]) -> Sequence[float] | np.ndarray:
        """Scores of `entries` as a distribution (the floor is applied afterwards)."""

    @abc.abstractmethod
    def _update(
        self, prepared: Any, entries: list[ActionEntry], index: int, reward01: float, probability: float
    ) -> None:
        """Learn that `entries[index]`, shown with `probability`, earned `reward01` in [0, 1]."""

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
        return np.asarray(
            apply_floor(
                self._pmf(prepared, self._registry.lookup(actions)),
                self.min_probability,
                self.exploration_budget,
                self.exploration_scale,
            ),
            dtype=float,
        )

    def rank(
        self,
        context: Mapping,
        actions: Sequence[Mapping],
        *,
        user_id: str | None = None,
        event_id: str | None = None,
        now: float | None = None,
    ) -> Decision:
        """Choose an action by sampling the pmf, remember the event until its reward, log it.

        A caller's `event_id` must be new: one already pending, closed, or in the log is refused
        here (BanditError), so a reward can never land on an earlier event."""
        now = _when(now)
        # first: a bad user id or an unusable key home is refused before any draw or id is spent
        user = None if user_id is None else self._hasher(user_id)
        if self._to_recover:
            self._recover()
        book = self._book
        book.expire(now)
        if event_id is None:
            event_id = self._ids.new()
        elif type(event_id) is not str or not event_id:
            raise BanditError(f"event_id must be a non-empty string, got {event_id!r}")
        elif self._id_taken(event_id):
            raise BanditError(f"event id {event_id!r} was already used")
        ctx = self._filter(context)
        schema = self._ctx_schema
        for ns, feats in ctx.items():
            names = schema.get(ns)
            if names is None:
                names = schema[ns] = set()
            names.update(feats)
        prepared = self._prepare(ctx)
        registry = self._registry
        entries = registry.lookup(actions)
        probs = apply_floor(
            self._pmf(prepared, entries), self.min_probability, self.exploration_budget, self.exploration_scale
        )
        index = sample_index(probs, self._rng.random())
        probability = probs[index]
        action_id = entries[index].id
        log = self.log
        if log is not None:  # validated before anything is kept
            ctx_json = validated_context_json(ctx) if self._prepare_validates else context_json(ctx)
            key, actions_json = registry.describe(entries)
            log.append(
                event_id,
                now,
                f"{self.model_id}.{self.n_learned}",  # self.model_version
                self.spec,
                user,
                ctx_json,
                key,
                actions_json,
                probs,
                index,
                action_id,
                probability,
            )
        book.open(
            OpenEvent(
                event_id, now, book.deadline(now), index, probability, ReplayStep(self, prepared, entries, probs), ctx
            )
        )
        return decision(event_id, action_id, index, probability, probs, ranking([e.id for e in entries], probs, index))

    def reward(self, event_id: str, value: float, *, now: float | None = None) -> None:
        """Record the reward of a ranked event, by the event book's rules ('earliest': final at once
        and learned; 'sum'/'average': combined when the window closes). Unknown, expired or already
        rewarded events and bad values raise (bandit.errors)."""
        if type(event_id) is not str:
            raise UnknownEventError(f"event id must be a string, got {type(event_id).__name__} {event_id!r}")
        value = check_reward(value, self.reward_range, "reward")  # self._check_value
        now = _when(now)
        if self._to_recover:
            self._recover()
        book = self._book
        book.expire(now)
        book.reward(book.find(event_id)[0], value, now)

    def expire(self, *, now: float | None = None) -> int:
        """Close every reward window that ended before `now` (bandit.lifecycle.book: rewarded events
        learn their rewards, the others the default reward). Returns how many events closed."""
        now = _when(now)
        if self._to_recover:
            self._recover()
        return self._book.expire(now)

    def learn(
        self, context: Mapping, actions: Sequence[Mapping], chosen_index: int, reward: float, probability: float
    ) -> None:
        """Off-policy update from a logged event (warm start, replay): reward in reward_range,
        probability = the logging policy's probability of the chosen action."""
        self._learn_prepared(
            self._prepare(self._filter(context)), self._registry.lookup(actions), chosen_index, reward, probability
        )

    def replay_step(self, context: Mapping, actions: Sequence[Mapping]) -> ReplayStep:
        """`predict` (pmf as a list, floor applied, no state change) plus a handle to learn from
        the same event afterwards without redoing the parsing: see ReplayStep."""
        prepared = self._prepare(self._filter(context))
        entries = self._registry.lookup(actions)
        return ReplayStep(
            self,
            prepared,
            entries,
            apply_floor(
                self._pmf(prepared, entries), self.min_probability, self.exploration_budget, self.exploration_scale
            ),
        )

    def _learn_prepared(
        self, prepared: Any, entries: list[ActionEntry], chosen_index: int, reward: float, probability: float
    ) -> None:
        reward = self._check_value(reward, "reward")
        if isinstance(chosen_index, bool) or not isinstance(chosen_index, (int, np.integer)):
            raise BanditError(f"chosen_index must be an integer, got {chosen_index!r}")
        if not (0 <= int(chosen_index) < len(entries)):
            raise BanditError(f"chosen_index {chosen_index} out of range for {len(entries)} actions")
        probability = real(probability, "probability")
        if not (0.0 < probability <= 1.0):
            raise BanditError(f"probability must be in (0, 1], got {probability!r}")
        self._update(prepared, entries, int(chosen_index), self._to01(reward), probability)
        self.n_learned += 1
        if self.exploration_decay is not None:
            self.settle_exploration()

    def _learn_own(
        self, prepared: Any, entries: list[ActionEntry], chosen_index: int, reward: float, probability: float
    ) -> None:
        """Learn from a decision this policy made itself: the base update, never a subclass's
        off-policy treatment of logs (e.g. the VW policy's importance weights for squarecb). What
        the event book hands over (a checked reward, the index and probability the policy drew)
        passes the base checks as it is, so they are made inline; anything else (an event
        recovered from a damaged log) goes through them."""
        lo, hi = self.reward_range
        if (
            type(chosen_index) is int
            and 0 <= chosen_index < len(entries)
            and type(probability) is float
            and 0.0 < probability <= 1.0
            and type(reward) is float
            and lo <= reward <= hi
        ):
            self._update(prepared, entries, chosen_index, self._to01(reward), probability)
            self.n_learned += 1
            if self.exploration_decay is not None:
                self.settle_exploration()
        else:
            Policy._learn_prepared(self, prepared, entries, chosen_index, reward, probability)

    def settle_exploration(self) -> None:
        """Set `exploration_scale` from the events learned since the start or the last detected drift
        (bandit.sampling.settled_scale): the floor settles as evidence grows, and a drift restarts it.
        Only a policy that watches for drift settles: without the restart, a settled floor left a
        segment below one artwork for everyone after tastes changed (docs/defaults.md)."""
        if not self.watches_drift:
            self.exploration_scale = 1.0
            return
        since = self.n_learned - (self.drift_events[-1] if self.drift_events else 0)
        self.exploration_scale = settled_scale(since, self.exploration_decay)

    # the drift test's hooks (bandit.policies.drift_hook overrides them; a plain policy has none)
    drift_events: list[int] = []  # never appended to here: DriftHook gives each policy its own list
    watches_drift = False  # DriftHook: True while its test runs (drift_boost > 0)

    def drift_clock(self, deadline: float, when: float) -> None:
        """An event whose window ends at `deadline` is learned at `when` (the drift test's clock)."""

    def drift_row(self, event_id: str, when: float, writer: int | None) -> DriftEvent:
        raise NotImplementedError

    def learn_event(self, ev: OpenEvent, value: float, when: float, writer: int | None = None) -> DriftEvent | None:
        """Learn one of this policy's own closed events (its `step` holds the prepared context and
        actions): here on reward/expiry, in the decision service when it closes one and when its
        recovery learns it again. Returns the event-log row of a drop the drift test detected."""
        detected = len(self.drift_events)
        self.drift_clock(ev.deadline, when)
        ev.step.learn(ev.chosen, value, ev.probability, own_decision=True)
        if len(self.drift_events) > detected:
            return self.drift_row(ev.event_id, when, writer)
        return None

    def save(self, path: str | os.PathLike) -> None:
        """Save the model to a folder (bandit.policies.model_io); policies without one refuse."""
        raise BanditError(f"{self.spec} models cannot be saved")

    def reseed(self, seed: int | None) -> None:
        """Restart the sampling generator, and the event-id generator with it (None: fresh OS
        entropy and random ids), e.g. so one-shot ranks from the same saved model differ."""
        self._rng = np.random.default_rng(seed)
        self._ids.reseed(seed)

    def flush(self) -> None:
        """Commit the event log's buffered rows now (they are committed within its
        commit_interval_s anyway)."""
        if self.log is not None:
            self.log.flush()

    def close(self) -> None:
        """Commit and close the event log. Pending events stay pending in the log: the next
        policy opened on it recovers them (call expire() first to learn from them now)."""
        if self.log is not None:
            self.log.close()

    def __enter__(self) -> "Policy":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def feature_schema(self) -> dict[str, Any]:
        """Feature names seen in ranked contexts (per namespace) and in current actions."""
        return {
            "context": {ns: sorted(names) for ns, names in sorted(self._ctx_schema.items())},
            "actions": self._registry.feature_names(),
        }

    @property
    def pending_count(self) -> int:
        if self._to_recover:
            self._recover()
        return len(self._book)

    # -- helpers -------------------------------------------------------------------------------
    def _id_taken(self, event_id: str) -> bool:
        return self._book.knows(event_id) or (self.log is not None and self.log.contains(event_id))

    def _on_close(self, ev: OpenEvent, value: float | None, why: str, when: float) -> None:
        """The event book closed one of this policy's events: learn it, then record it in the log."""
        log = self.log
        assert value is not None  # a library policy's events are always active: they close with a value
        drift = self.learn_event(ev, value, when, None if log is None else log.writer_id)
        if log is not None:
            log.set_reward(ev.event_id, value, when, why == DEFAULTED)
            if drift is not None:
                log.append_drift(drift)

    def _recover(self) -> None:
        """Take over the log's unrewarded events of writers that are gone (a crash, a restart):
        they wait for their reward again, until their window (from their logged time) ends."""
        self._to_recover = False
        assert self.log is not None
        book = self._book
        for logged in self.log.claim_pending():
            if logged.event_id in book.pending:
                continue
            ctx = logged.context
            entries = self._registry.lookup(
                [{"id": a, "features": f} for a, f in zip(logged.action_ids, logged.action_features)]
            )
            book.open(
                OpenEvent(
                    logged.event_id,
                    logged.time,
                    book.deadline(logged.time),
                    logged.chosen_index,
                    logged.probability,
                    ReplayStep(self, self._prepare(ctx), entries, []),
                    ctx,
                )
            )

    def _to01(self, value: float) -> float:
        lo, hi = self.reward_range
        return (value - lo) / (hi - lo)

    def _check_value(self, value: Any, what: str) -> float:
        return check_reward(value, self.reward_range, what)

    def _filter(self, context: Mapping) -> dict:
        check_context(context)
        allow = self.context_allowlist
        if allow is None:
            return context if type(context) is dict else dict(context)
        return {ns: f for ns, f in context.items() if ns in allow}

    # -- state for save/load -------------------------------------------------------------------
    def _base_state(self) -> dict:
        window = self._book.window
        pending, closed = window.state()
        return {
            "n_learned": self.n_learned,
            "model_id": self.model_id,
            "rng": self._rng.bit_generator.state,
            "seq": window.seq,
            "pending": [
                {
                    "event_id": eid,
                    "context": ev.context,
                    "time": ev.time,
                    "actions": [{"id": e.id, "features": e.features} for e in ev.step._entries],
                    "index": ev.chosen,
                    "probability": ev.probability,
                    "deadline": ev.deadline,
                    "n_rewards": ev.n_rewards,
                    "total": ev.total,
                    "first": ev.first,
                }
                for eid, ev in pending
            ],
            "closed": closed,
            "context_schema": {ns: sorted(n) for ns, n in self._ctx_schema.items()},
        }

    def _restore_base_state(self, state: dict) -> None:
        """The state saved by `_base_state`. With an event log, pending events come from the log
        (recovered on first use), which knows what happened after the save."""
        self.n_learned = int(state["n_learned"])
        self.settle_exploration()
        self.model_id = str(state["model_id"])
        self._rng.bit_generator.state = state["rng"]
        book = self._book
        window = book.window
        window.seq = max(window.seq, int(state["seq"]))
        if self.log is None:
            for item in state.get("pending", []):
                entries = self._registry.lookup(item["actions"])
                ctx = self._filter(item["context"])
                book.open(
                    OpenEvent(
                        item["event_id"],
                        float(item["time"]),
                        float(item["deadline"]),
                        int(item["index"]),
                        float(item["probability"]),
                        ReplayStep(self, self._prepare(ctx), entries, []),
                        ctx,
                        n_rewards=int(item["n_rewards"]),
                        total=float(item["total"]),
                        first=float(item["first"]),
                    )
                )
        for event_id, how in state.get("closed", []):
            window.closed[str(event_id)] = how
        self._ctx_schema = {ns: set(n) for ns, n in state.get("context_schema", {}).items()}
