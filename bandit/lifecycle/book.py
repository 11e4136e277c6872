"""The event book: the one home of a decision event's life, from its rank to its final reward.

Both the in-process policy (bandit.policies.base.Policy: rank / reward / expire) and the decision
service (bandit.service.decision_service.DecisionService, and the stream learner that drives one)
keep their open events here, so each rule is written once:

- the reward window: an event waits `reward_wait_s` from its rank (`deadline`);
- reward aggregation, in Personalizer's vocabulary: 'earliest' (the first reward is final and learned
  at once), 'sum' and 'average' (rewards add up until the window closes; the result is clipped to
  the reward range);
- the default reward: a window that ends without a reward closes with it;
- deferred activation: an event ranked with `active=False` waits for `activate`; one never activated
  closes unlearned (NOT_ACTIVATED);
- which error a reward for an unknown, closed or already final event gets.

What happens when an event closes (learn it, log it, journal it) is the owner's `on_close` callback;
what is recorded before a change (the service's journal) the owner writes before calling the book.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Callable, NoReturn, Sequence

import numpy as np

from bandit.errors import BanditError, DuplicateRewardError, ExpiredEventError, InvalidRewardError, UnknownEventError
from bandit.lifecycle.window import DEFAULTED, NOT_ACTIVATED, REWARDED, RewardWindow

AGGREGATIONS = ("earliest", "average", "sum")


@dataclass(slots=True)
class OpenEvent:
    """A ranked event waiting for its reward (or one slot of a multi-slot event).

    `step` learns it when it closes (bandit.policies.base.ReplayStep: the policy's prepared context
    and actions, so closing costs only the update). The service's fields (journal position, the
    actions as sent, the pmf, the learning mode, the model version, the memory it holds) keep their
    defaults in the library policy."""

    event_id: str
    time: float
    deadline: float
    chosen: int
    probability: float
    step: Any = None
    context: dict = field(default_factory=dict)
    actions: list = field(default_factory=list)  # the eligible actions as sent, in the order the policy saw them
    pmf: list = field(default_factory=list)
    mode: str = "Online"  # learning mode when ranked: Online | Apprentice | LoggingOnly
    active: bool = True  # False: ranked with deferActivation and not activated yet
    group: str | None = None  # multi-slot: the event id the caller knows
    model_version: str = ""
    journal_seq: int = 0  # the journal's sequence number of its rank record (service)
    cost: int = 0  # estimated bytes it holds (the service's memory budget)
    agree: bool | None = None  # Apprentice: whether the policy would have chosen the baseline
    n_rewards: int = 0
    total: float = 0.0
    first: float = 0.0
    seq: int = 0  # set by RewardWindow.add (tells its heap entry from stale ones)

    @property
    def action_id(self) -> str:
        return self.actions[self.chosen]["id"]

    def add_reward(self, value: float) -> None:
        """Count one reward (the book's rules decide when and with what value the event closes)."""
        if self.n_rewards == 0:
            self.first = value
        self.n_rewards += 1
        self.total += value


@dataclass(frozen=True)
class Decision:
    """What a rank chose, as the library, the CLI (`rank --json`) and the service all answer it.

    `ranking` is Personalizer's: the chosen action first, then the others from most to least
    probable, excluded actions last with probability 0; so a client showing `ranking[0]` shows what
    was logged. `pmf` and `index` are in the order of the actions given to rank."""

    event_id: str
    action_id: str
    index: int
    probability: float
    pmf: list[float]
    ranking: list[tuple[str, float]]


def decision(
    event_id: str, action_id: str, index: int, probability: float, pmf: list[float], ranked: list[tuple[str, float]]
) -> Decision:
    """`Decision(...)` for rank's hot path: the same frozen object, its fields set in one step
    instead of one `object.__setattr__` per field (half the cost)."""
    d = _new_object(Decision)
    d.__dict__.update(
        event_id=event_id, action_id=action_id, index=index, probability=probability, pmf=pmf, ranking=ranked
    )
    return d


_new_object = object.__new__
_by_probability = itemgetter(1)


def ranking(ids: Sequence[str], pmf: Sequence[float], chosen: int) -> list[tuple[str, float]]:
    """(id, probability) pairs, the chosen one first, then by falling probability (ties: given order,
    since a reversed sort is stable too)."""
    pairs = list(zip(ids, pmf))
    first = pairs.pop(chosen)
    pairs.sort(key=_by_probability, reverse=True)
    return [first, *pairs]


@dataclass(frozen=True)
class RewardRules:
    """How long an event waits, how its rewards combine, and what it learns without one."""

    reward_wait_s: float
    aggregation: str = "earliest"
    default_reward: float = 0.0
    reward_range: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self) -> None:
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {', '.join(AGGREGATIONS)}, got {self.aggregation!r}")


def check_reward(value: Any, reward_range: tuple[float, float], what: str = "reward value") -> float:
    """A reward: a real number (not a bool), finite, inside the reward range; InvalidRewardError if not."""
    lo, hi = reward_range
    if type(value) is float and lo <= value <= hi:  # the common case (NaN fails the comparison)
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidRewardError(f"{what} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise InvalidRewardError(f"{what} is {value} (must be finite)")
    if not (lo <= value <= hi):
        raise InvalidRewardError(f"{what} {value} is outside the reward range [{lo}, {hi}]")
    return value


OnClose = Callable[[OpenEvent, "float | None", str, float], None]


class EventBook:
    """Open events by id, with the rules that close them (see the module docstring).

    `on_close(event, value, why, when)` runs once per closed event: `why` is REWARDED, DEFAULTED
    or NOT_ACTIVATED (value None: not to be learned). `closed_reason(event_id)` tells why an event
    no longer in memory closed (the service asks its journal), or None if it never existed."""

    def __init__(
        self,
        rules: RewardRules,
        on_close: OnClose,
        *,
        remember_closed: int = 100_000,
        closed_reason: Callable[[str], str | None] | None = None,
    ) -> None:
        self.rules = rules
        self.on_close = on_close
        self.window = RewardWindow(remember_closed)
        self.closed_reason = closed_reason

    # -- what is open ------------------------------------------------------------------------------
    @property
    def pending(self) -> dict[str, OpenEvent]:
        return self.window.pending

    def __len__(self) -> int:
        return len(self.window.pending)

    def knows(self, event_id: str) -> bool:
        """Whether an id is open, recently closed or a multi-slot group in memory."""
        return self.window.knows(event_id)

    def next_deadline(self) -> float:
        return self.window.next_deadline()

    def deadline(self, now: float) -> float:
        """When the reward window of an event ranked at `now` ends."""
        return now + self.rules.reward_wait_s

    def open(self, ev: OpenEvent) -> None:
        self.window.add(ev.event_id, ev)

    def find(self, event_id: str, *, multislot: bool = False) -> list[OpenEvent]:
        """The open event(s) of an id (every slot of a multi-slot one); the error a reward for it gets
        otherwise: DuplicateRewardError (final reward given), ExpiredEventError (window closed),
        UnknownEventError."""
        window = self.window
        if multislot:
            keys = window.groups.get(event_id)
            if keys:
                return [window.pending[k] for k in list(keys)]
        else:
            ev = window.pending.get(event_id)
            if ev is not None:
                return [ev]
            if event_id in window.groups:
                raise BanditError(f"event {event_id!r} is a multi-slot event: use the multislot endpoints")
        state = window.closed.get(event_id)
        if state is None and self.closed_reason is not None:
            state = self.closed_reason(event_id)
        self.raise_closed(event_id, state)

    @staticmethod
    def raise_closed(event_id: str, state: str | None, slot: str | None = None) -> NoReturn:
        """The error for a reward to an event (or one slot of it) that is not open; `state`: why it
        closed, None if it never existed."""
        what = f"event {event_id!r}" if slot is None else f"event {event_id!r} slot {slot!r}"
        if state == REWARDED:
            raise DuplicateRewardError(f"{what} already has its final reward")
        if state is not None:
            raise ExpiredEventError(f"{what}: its reward window closed")
        raise UnknownEventError(f"unknown event id {event_id!r}" if slot is None else f"{what} does not exist")

    # -- the rules -----------------------------------------------------------------------------------
    def check_not_final(self, ev: OpenEvent) -> None:
        """DuplicateRewardError if the event's first reward is already its final one ('earliest')."""
        if self.rules.aggregation == "earliest" and ev.n_rewards:
            raise DuplicateRewardError(f"event {ev.group or ev.event_id!r} already has its final reward")

    def reward(self, ev: OpenEvent, value: float, now: float) -> None:
        """Count a (checked) reward; with 'earliest' an active event closes with it now."""
        self.check_not_final(ev)
        ev.add_reward(value)
        if self.rules.aggregation == "earliest" and ev.active:
            self.close(ev, value, REWARDED, now, early=True)

    def activate(self, ev: OpenEvent, now: float) -> None:
        """Activate a deferred event; with 'earliest' a reward that came before closes it now."""
        ev.active = True
        if self.rules.aggregation == "earliest" and ev.n_rewards:
            self.close(ev, ev.first, REWARDED, now, early=True)

    def outcome(self, ev: OpenEvent) -> tuple[float | None, str]:
        """What an event whose window ended learns, and why: its rewards combined and clipped to the
        reward range, else the default reward; nothing if it was never activated."""
        if not ev.active:
            return None, NOT_ACTIVATED
        rules = self.rules
        if ev.n_rewards:
            if rules.aggregation == "average":
                value = ev.total / ev.n_rewards
            elif rules.aggregation == "sum":
                value = ev.total
            else:
                value = ev.first
            lo, hi = rules.reward_range
            return min(max(value, lo), hi), REWARDED
        return rules.default_reward, DEFAULTED

    def expire(self, now: float) -> int:
        """Close every event whose window ended before `now` (at its deadline); how many closed."""
        window = self.window
        heap = window.heap  # called twice per decision: the common "nothing due" in one look
        if not heap or heap[0][0] >= now or not window.has_due(now):
            return 0
        n = 0
        for _, ev in self.window.due(now):
            value, why = self.outcome(ev)
            self.close(ev, value, why, ev.deadline, early=False)
            n += 1
        return n

    def close(self, ev: OpenEvent, value: float | None, why: str, when: float, *, early: bool) -> None:
        """Forget the event (`early`: before its deadline) and hand it to `on_close`."""
        self.window.close(ev.event_id, why, early=early)
        self.on_close(ev, value, why, when)
