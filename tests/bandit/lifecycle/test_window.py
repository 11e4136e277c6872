"""The reward window (bandit.lifecycle.window) under the event book: multi-slot groups, late-reward
errors and a heap that follows what is open, in the decision service."""

from __future__ import annotations

import importlib.util

import pytest

from bandit.errors import DuplicateRewardError, ExpiredEventError
from bandit.lifecycle.book import EventBook, OpenEvent
from bandit.lifecycle.window import DEFAULTED, REWARDED, RewardWindow
from bandit.service.config import ServiceConfig
from bandit.service.decision_service import DecisionService, Slot
from tests.bandit_helpers import make_actions


def _slot(event_id: str, deadline: float, group: str) -> OpenEvent:
    return OpenEvent(event_id, 0.0, deadline, 0, 1.0, context={}, actions=[{"id": "a"}], pmf=[1.0], group=group)


def test_a_group_closes_with_its_last_slot():
    w = RewardWindow(remember_closed=10)
    w.add("g#1", _slot("g#1", 5.0, "g"))
    w.add("g#2", _slot("g#2", 6.0, "g"))
    assert w.knows("g") and w.groups == {"g": ["g#1", "g#2"]}
    w.close("g#1", REWARDED, early=True)
    assert "g" not in w.closed and w.groups == {"g": ["g#2"]}
    assert [eid for eid, _ in w.due(10.0)] == ["g#2"]
    w.close("g#2", DEFAULTED, early=False)
    assert w.closed == {"g#1": REWARDED, "g#2": DEFAULTED, "g": DEFAULTED} and not w.groups
    assert w.knows("g") and len(w) == 0 and not w.heap


def test_the_service_has_no_second_window():
    assert importlib.util.find_spec("bandit.open_events") is None


def test_service_heap_follows_open_events_and_multislot_errors_survive_forgetting(tmp_path):
    svc = DecisionService(tmp_path / "s", seed=4)
    svc.set_config(ServiceConfig(reward_wait_s=600.0))
    assert isinstance(svc.book, EventBook)
    actions = make_actions()[:4]
    peak = 0
    for t in range(3_000):  # 1,000/s on the clock: all inside the window, nine in ten rewarded
        r = svc.rank({"u": {"t": t}}, actions, now=1_000.0 + t / 1000.0)
        if t % 10:
            svc.reward(r.event_id, 1.0, now=1_000.0 + t / 1000.0)
        peak = max(peak, len(svc.book.window.heap))
    assert len(svc.book) == 300
    assert peak <= 2 * 300 + 1024  # not 3,000
    slots = [Slot("hero", {}), Slot("row", {})]
    event, chosen = svc.rank_multislot({"u": {"t": -1}}, actions, slots, defer=True, now=1_005.0)
    svc.reward_multislot(event, [("hero", 1.0)], now=1_005.5)
    svc.activate(event, multislot=True, now=1_006.0)
    assert svc.book.window.groups == {event: [f"{event}#row"]}
    svc.reward_multislot(event, [("row", 0.0)], now=1_006.5)
    assert svc.book.window.closed[event] == REWARDED and event not in svc.book.window.groups
    svc.book.window.closed.clear()  # as after more closes than it remembers: the journal answers
    with pytest.raises(DuplicateRewardError):
        svc.reward_multislot(event, [("row", 1.0)], now=1_007.0)
    assert svc.expire(now=2_000.0) == 300 and len(svc.book) == 0
    with pytest.raises(ExpiredEventError):
        svc.reward(next(iter(k for k, v in svc.book.window.closed.items() if v == DEFAULTED)), 1.0, now=2_001.0)
    svc.close()


def test_has_due_drops_the_stale_entries_on_top_and_finds_a_live_one():
    """Issue 31: the book asks `has_due` before iterating `due`; the entries of events that closed
    early are dropped from the top on the way (and counted as stale no more), a live event whose
    deadline passed is found, and one still in its window is not."""
    w = RewardWindow(remember_closed=10)
    for i, deadline in enumerate((1.0, 2.0, 3.0, 10.0)):
        w.add(f"e{i}", OpenEvent(f"e{i}", 0.0, deadline, 0, 1.0))
    w.close("e0", REWARDED, early=True)
    w.close("e1", REWARDED, early=True)
    assert w._stale == 2 and len(w.heap) == 4
    assert not w.has_due(2.5) and w._stale == 0 and [e for _, _, e in w.heap] == ["e2", "e3"]
    assert w.has_due(3.5) and len(w.heap) == 2  # e2 is live and due: left for `due`
    assert [eid for eid, _ in w.due(3.5)] == ["e2"]
    assert not w.has_due(9.0) and w.has_due(11.0)
