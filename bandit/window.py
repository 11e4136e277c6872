"""Reward-window bookkeeping: which events wait for a reward, until when, and which are closed.

Why a heap with compaction: events close in deadline order when their window ends, but most close
early (their reward arrives). Their heap entries are left behind as stale and the heap is rebuilt from
the pending events once stale entries outnumber live ones, so memory follows the number of pending
events, not the decisions made within the last window (the heap used to keep every decision for the
whole window: 1.2 GB at 10k decisions/s with a 600 s window).
"""
from __future__ import annotations

import heapq
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterator

from bandit.features import ActionEntry

REWARDED, EXPIRED = "rewarded", "expired"


@dataclass(slots=True)
class Pending:
    """An event waiting for its reward: everything needed to learn from it later."""

    context: dict
    prepared: Any
    entries: list[ActionEntry]
    index: int
    probability: float
    deadline: float
    seq: int = 0
    total: float = 0.0
    rewarded: bool = False


class RewardWindow:
    """Pending events by id, their deadlines (a heap), and the ids recently closed."""

    def __init__(self, remember_closed: int = 100_000) -> None:
        self.pending: dict[str, Pending] = {}
        self.heap: list[tuple[float, int, str]] = []
        self.closed: OrderedDict[str, str] = OrderedDict()  # event id -> REWARDED | EXPIRED
        self.remember_closed = int(remember_closed)
        self.seq = 0
        self._stale = 0

    def __len__(self) -> int:
        return len(self.pending)

    def knows(self, event_id: str) -> bool:
        return event_id in self.pending or event_id in self.closed

    def add(self, event_id: str, pending: Pending) -> None:
        self.seq += 1
        pending.seq = self.seq
        self.pending[event_id] = pending
        heapq.heappush(self.heap, (pending.deadline, pending.seq, event_id))

    def next_deadline(self) -> float:
        return self.heap[0][0] if self.heap else float("inf")

    def due(self, now: float) -> Iterator[tuple[str, Pending]]:
        """Pop every pending event whose deadline is before `now`, in deadline order."""
        heap = self.heap
        while heap and heap[0][0] < now:
            _, seq, event_id = heapq.heappop(heap)
            pending = self.pending.get(event_id)
            if pending is None or pending.seq != seq:
                self._stale -= 1
                continue
            yield event_id, pending

    def close(self, event_id: str, state: str, *, early: bool) -> None:
        """Forget a pending event (`early`: before its deadline, so its heap entry goes stale)."""
        del self.pending[event_id]
        closed = self.closed
        closed[event_id] = state
        if len(closed) > self.remember_closed:
            closed.popitem(last=False)
        if early:
            self._stale += 1
            if self._stale > len(self.pending) + 1024:
                self.compact()

    def compact(self) -> None:
        """Rebuild the heap from the pending events only."""
        self.heap = [(p.deadline, p.seq, eid) for eid, p in self.pending.items()]
        heapq.heapify(self.heap)
        self._stale = 0

    def state(self) -> tuple[list, list]:
        return list(self.pending.items()), list(self.closed.items())
