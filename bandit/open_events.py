"""Events a decision service has ranked and not yet closed: reward windows, activation, aggregation.

An event is *open* from its rank until its reward window closes: at once on the first reward
(aggregation 'earliest'), or at its deadline ('average'/'sum', or no reward: the default reward).
An event ranked with deferActivation is inactive: it collects rewards but is neither learned nor
given the default reward unless it is activated before its deadline (Personalizer's semantics: the
app ranked ahead of time and the viewer may never see the result).

Recently closed event ids are remembered (bounded) so a late or repeated reward gets the right error
without a read; older ones are looked up in the journal. Memory stays flat under steady traffic: the
deadline heap drops closed events' entries whenever they outnumber the open ones.
"""
from __future__ import annotations

import heapq
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Iterator

# Why an event closed; the journal's close records carry it.
REWARDED, DEFAULTED, NOT_ACTIVATED = "rewarded", "defaulted", "not-activated"


@dataclass
class OpenEvent:
    """One ranked decision waiting for its reward (or one slot of a multi-slot event)."""

    event_id: str
    seq: int                        # journal sequence number of its rank record
    time: float
    deadline: float
    context: dict
    actions: list[dict]             # the eligible actions, in the order the policy saw them
    pmf: list[float]
    chosen: int
    probability: float
    mode: str                       # learning mode when ranked: Online | Apprentice | LoggingOnly
    active: bool = True
    rewards: list[float] = field(default_factory=list)
    step: Any = None                # bandit.policy.ReplayStep: learning without re-parsing
    group: str | None = None        # multi-slot: the event id the caller knows
    model_version: str = ""

    @property
    def action_id(self) -> str:
        return self.actions[self.chosen]["id"]


class OpenEvents:
    """Open events by id, their deadlines in a heap, and a bounded memory of closed ids."""

    def __init__(self, remember_closed: int = 20_000) -> None:
        self._open: dict[str, OpenEvent] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._closed: OrderedDict[str, str] = OrderedDict()
        self._remember = remember_closed
        self.groups: dict[str, list[str]] = {}   # multi-slot event id -> its slots' internal ids

    def __len__(self) -> int:
        return len(self._open)

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._open

    def __iter__(self) -> Iterator[OpenEvent]:
        return iter(list(self._open.values()))

    def get(self, event_id: str) -> OpenEvent | None:
        return self._open.get(event_id)

    def closed_state(self, event_id: str) -> str | None:
        return self._closed.get(event_id)

    def add(self, event: OpenEvent) -> None:
        self._open[event.event_id] = event
        heapq.heappush(self._heap, (event.deadline, event.seq, event.event_id))
        if event.group is not None:
            self.groups.setdefault(event.group, []).append(event.event_id)

    def remove(self, event_id: str, why: str) -> OpenEvent:
        event = self._open.pop(event_id)
        if len(self._heap) > 2 * len(self._open) + 1024:  # mostly entries of closed events
            self._heap = [entry for entry in self._heap if entry[2] in self._open]
            heapq.heapify(self._heap)
        closed = self._closed
        closed[event_id] = why
        if len(closed) > self._remember:
            closed.popitem(last=False)
        if event.group is not None:
            slots = self.groups.get(event.group)
            if slots is not None:
                slots.remove(event_id)
                if not slots:
                    del self.groups[event.group]
                    closed[event.group] = why
        return event

    def remember_closed(self, event_id: str, why: str) -> None:
        self._closed[event_id] = why
        if len(self._closed) > self._remember:
            self._closed.popitem(last=False)

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap and heap[0][2] not in self._open:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def due(self, now: float) -> Iterator[OpenEvent]:
        """Open events whose deadline is before `now`, earliest first (each yielded once; the caller
        closes it before asking for the next)."""
        heap = self._heap
        while heap and heap[0][0] < now:
            _, _, event_id = heapq.heappop(heap)
            event = self._open.get(event_id)
            if event is not None:
                yield event

    def oldest_seq(self) -> int | None:
        """The smallest rank sequence number among open events (where a restart must start
        reading the journal to rebuild them)."""
        return min((e.seq for e in self._open.values()), default=None)

    def clear(self) -> None:
        self._open.clear()
        self._heap.clear()
        self._closed.clear()
        self.groups.clear()
