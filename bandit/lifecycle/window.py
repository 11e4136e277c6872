"""Reward-window bookkeeping: which events wait for a reward, until when, and which are closed.

Why a heap with compaction: events close in deadline order when their window ends, but most close
early (their reward arrives). Their heap entries are left behind as stale and the heap is rebuilt from
the pending events once stale entries outnumber live ones, so memory follows the number of pending
events, not the decisions made within the last window (the heap used to keep every decision for the
whole window: 1.2 GB at 10k decisions/s with a 600 s window).

The events it holds are bandit.lifecycle.book.OpenEvent (the event book decides when they close); a
multi-slot event is a group of slot events, and the group id counts as closed once its last slot is.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from typing import Any, Iterator, Protocol

# Why an event closed: its reward(s), the default reward (none came in its window), or never activated
# (deferred and not learned). The service's journal close records say the same.
REWARDED, DEFAULTED, NOT_ACTIVATED = "rewarded", "defaulted", "not-activated"


class Waiting(Protocol):
    """What the window needs of an event: its deadline, its slot in the heap, its multi-slot group."""

    deadline: float
    seq: int
    group: str | None


class RewardWindow:
    """Pending events by id, their deadlines (a heap), multi-slot groups, and the ids recently closed."""

    def __init__(self, remember_closed: int = 100_000) -> None:
        self.pending: dict[str, Any] = {}  # event id -> OpenEvent (any `Waiting`)
        self.groups: dict[str, list[str]] = {}  # multi-slot event id -> its slots' event ids
        self.heap: list[tuple[float, int, str]] = []
        self.closed: OrderedDict[str, str] = OrderedDict()  # event id -> why it closed
        self.remember_closed = int(remember_closed)
        self.seq = 0
        self._stale = 0

    def __len__(self) -> int:
        return len(self.pending)

    def knows(self, event_id: str) -> bool:
        return event_id in self.pending or event_id in self.closed or event_id in self.groups

    def add(self, event_id: str, pending: Waiting) -> None:
        self.seq += 1
        pending.seq = self.seq
        self.pending[event_id] = pending
        heapq.heappush(self.heap, (pending.deadline, pending.seq, event_id))
        if pending.group is not None:
            self.groups.setdefault(pending.group, []).append(event_id)

    def next_deadline(self) -> float:
        return self.heap[0][0] if self.heap else float("inf")

    def has_due(self, now: float) -> bool:
        """Whether a pending event's deadline is before `now`. The stale entries of events that
        closed early (most of them) are dropped from the top of the heap on the way, as `due`
        would, without starting an iteration for them."""
        heap = self.heap
        pending = self.pending
        while heap and heap[0][0] < now:
            _, seq, event_id = heap[0]
            live = pending.get(event_id)
            if live is not None and live.seq == seq:
                return True
            heapq.heappop(heap)
            self._stale -= 1
        return False

    def due(self, now: float) -> Iterator[tuple[str, Any]]:
        """Pop every pending event whose deadline is before `now`, in deadline order."""
        heap = self.heap
        while heap and heap[0][0] < now:
            _, seq, event_id = heapq.heappop(heap)
            pending = self.pending.get(event_id)
            if pending is None or pending.seq != seq:
                self._stale -= 1
                continue
            yield event_id, pending

    def close(self, event_id: str, state: str, *, early: bool) -> Any:
        """Forget a pending event (`early`: before its deadline, so its heap entry goes stale) and
        remember why it closed; returns it. Its group closes with its last slot."""
        pending = self.pending.pop(event_id)
        closed = self.closed
        closed[event_id] = state
        if len(closed) > self.remember_closed:
            closed.popitem(last=False)
        group = pending.group
        if group is not None:
            slots = self.groups.get(group)
            if slots is not None:
                slots.remove(event_id)
                if not slots:
                    del self.groups[group]
                    self.remember(group, state)
        if early:
            self._stale += 1
            if self._stale > len(self.pending) + 1024:
                self.compact()
        return pending

    def remember(self, event_id: str, state: str) -> None:
        """Remember that an event (or a group) closed, forgetting the oldest beyond the bound."""
        closed = self.closed
        closed[event_id] = state
        if len(closed) > self.remember_closed:
            closed.popitem(last=False)

    def compact(self) -> None:
        """Rebuild the heap from the pending events only."""
        self.heap = [(p.deadline, p.seq, eid) for eid, p in self.pending.items()]
        heapq.heapify(self.heap)
        self._stale = 0

    def state(self) -> tuple[list, list]:
        return list(self.pending.items()), list(self.closed.items())
