"""The event book (bandit.lifecycle.book): the one home of an event's life from rank to final reward,
used by the library policy and the decision service alike."""

from __future__ import annotations

import pytest

from bandit import make_policy
from bandit.errors import BanditError, DuplicateRewardError, ExpiredEventError, InvalidRewardError, UnknownEventError
from bandit.lifecycle.book import EventBook, OpenEvent, RewardRules, check_reward, ranking
from bandit.lifecycle.window import DEFAULTED, NOT_ACTIVATED, REWARDED
from bandit.service.config import ServiceConfig
from bandit.service.decision_service import DecisionService
from tests.bandit_helpers import make_actions


def _book(aggregation: str = "earliest", **rules) -> tuple[EventBook, list]:
    closed: list = []
    book = EventBook(
        RewardRules(10.0, aggregation, default_reward=0.25, reward_range=(0.0, 1.0), **rules),
        lambda ev, value, why, when: closed.append((ev.event_id, value, why, when)),
    )
    return book, closed


def _open(book: EventBook, event_id: str, now: float = 0.0, active: bool = True) -> OpenEvent:
    ev = OpenEvent(event_id, now, book.deadline(now), 0, 1.0, active=active)
    book.open(ev)
    return ev


def test_earliest_closes_with_the_first_reward_and_refuses_a_second():
    book, closed = _book("earliest")
    ev = _open(book, "a")
    book.reward(ev, 0.75, 3.0)
    assert closed == [("a", 0.75, REWARDED, 3.0)] and len(book) == 0
    with pytest.raises(DuplicateRewardError):
        book.find("a")


@pytest.mark.parametrize("aggregation, expected", [("sum", 1.0), ("average", 0.6)])
def test_sum_and_average_combine_until_the_window_ends_clipped_to_the_range(aggregation, expected):
    book, closed = _book(aggregation)
    ev = _open(book, "a")
    for v in (0.9, 0.3):
        book.reward(ev, v, 1.0)
    assert closed == [] and book.expire(10.0) == 0  # the window ends at 10.0: not before 10.0
    assert book.expire(10.5) == 1
    assert closed == [("a", pytest.approx(expected), REWARDED, 10.0)]  # learned at its deadline
    with pytest.raises(DuplicateRewardError):  # closed with its rewards: a later one is a duplicate
        book.find("a")


def test_no_reward_learns_the_default_and_a_deferred_event_never_activated_learns_nothing():
    book, closed = _book()
    _open(book, "quiet")
    _open(book, "deferred", active=False)
    assert book.expire(11.0) == 2
    assert sorted(closed) == [("deferred", None, NOT_ACTIVATED, 10.0), ("quiet", 0.25, DEFAULTED, 10.0)]
    for event_id in ("quiet", "deferred"):
        with pytest.raises(ExpiredEventError):
            book.find(event_id)
    with pytest.raises(UnknownEventError):
        book.find("never")


def test_a_reward_before_activation_closes_the_event_when_it_is_activated():
    book, closed = _book()
    ev = _open(book, "d", active=False)
    book.reward(ev, 1.0, 2.0)
    assert closed == []
    book.activate(ev, 4.0)
    assert closed == [("d", 1.0, REWARDED, 4.0)]


def test_the_closed_reason_of_a_forgotten_event_comes_from_the_owner():
    closed: list = []
    book = EventBook(
        RewardRules(10.0), lambda *a: closed.append(a), remember_closed=0, closed_reason={"old": REWARDED}.get
    )
    with pytest.raises(DuplicateRewardError):
        book.find("old")
    with pytest.raises(UnknownEventError):
        book.find("other")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 1.5, -0.1, True, "1", None])
def test_a_reward_must_be_a_finite_number_in_the_range(value):
    with pytest.raises(InvalidRewardError):
        check_reward(value, (0.0, 1.0))


def test_the_ranking_lists_the_chosen_action_first_then_by_falling_probability():
    assert ranking(["a", "b", "c", "d"], [0.1, 0.5, 0.1, 0.3], 2) == [("c", 0.1), ("b", 0.5), ("d", 0.3), ("a", 0.1)]


def test_unknown_aggregations_are_refused():
    with pytest.raises(ValueError):
        RewardRules(1.0, "first")


def test_one_edit_to_the_window_rule_changes_the_library_and_the_service_alike(tmp_path, monkeypatch):
    """The issue's check of "one lifecycle": change how long a window lasts in one place, and both the
    in-process policy and the decision service accept a reward they refused before."""
    actions = make_actions()[:3]

    def late_reward_accepted() -> tuple[bool, bool]:
        policy = make_policy("uniform", reward_wait_s=10.0, seed=0)
        d = policy.rank({"u": {"x": 1}}, actions, now=0.0)
        svc = DecisionService(tmp_path / f"s{len(list(tmp_path.iterdir()))}", seed=0)
        svc.set_config(ServiceConfig(reward_wait_s=10.0))
        r = svc.rank({"u": {"x": 1}}, actions, now=0.0)
        results = []
        for give in (lambda: policy.reward(d.event_id, 1.0, now=15.0), lambda: svc.reward(r.event_id, 1.0, now=15.0)):
            try:
                give()
                results.append(True)
            except ExpiredEventError:
                results.append(False)
        svc.close()
        return tuple(results)

    assert late_reward_accepted() == (False, False)
    monkeypatch.setattr(EventBook, "deadline", lambda self, now: now + 2 * self.rules.reward_wait_s)
    assert late_reward_accepted() == (True, True)


@pytest.mark.parametrize("value", [0.0, 1.0, 0, 1, -2.0, 3])
def test_the_range_ends_are_rewards_and_the_messages_say_what_is_wrong(value):
    lo, hi = (0.0, 1.0) if value in (0, 1) else (-2.0, 3.0)
    assert check_reward(value, (lo, hi)) == float(value) and type(check_reward(value, (lo, hi))) is float
    with pytest.raises(InvalidRewardError, match=r"reward value 1.5 is outside the reward range \[0.0, 1.0\]"):
        check_reward(1.5, (0.0, 1.0))
    with pytest.raises(InvalidRewardError, match=r"click must be a number, got str '1'"):
        check_reward("1", (0.0, 1.0), "click")
    for bad in (float("nan"), float("inf")):
        with pytest.raises(InvalidRewardError, match=rf"reward value is {bad} \(must be finite\)"):
            check_reward(bad, (0.0, 1.0))
    with pytest.raises(ValueError, match="aggregation must be one of earliest, average, sum, got 'first'"):
        RewardRules(1.0, "first")


def test_a_multi_slot_event_is_found_by_its_group_and_its_slots_errors_name_the_slot():
    book, closed = _book()
    slots = [OpenEvent(f"g#{s}", 0.0, 10.0, 0, 1.0, group="g") for s in ("hero", "row")]
    for ev in slots:
        book.open(ev)
    assert book.find("g", multislot=True) == slots
    with pytest.raises(BanditError, match="event 'g' is a multi-slot event: use the multislot endpoints"):
        book.find("g")
    book.reward(slots[0], 1.0, 1.0)
    assert book.knows("g") and closed == [("g#hero", 1.0, REWARDED, 1.0)]
    with pytest.raises(DuplicateRewardError, match="event 'g' slot 'hero' already has its final reward"):
        book.raise_closed("g", REWARDED, slot="hero")
    with pytest.raises(ExpiredEventError, match="event 'g' slot 'row': its reward window closed"):
        book.raise_closed("g", DEFAULTED, slot="row")
    with pytest.raises(UnknownEventError, match="event 'g' slot 'x' does not exist"):
        book.raise_closed("g", None, slot="x")
    with pytest.raises(UnknownEventError, match="unknown event id 'h'"):
        book.find("h")
    with pytest.raises(ExpiredEventError, match="event 'g#hero2'"):
        book.raise_closed("g#hero2", NOT_ACTIVATED)


def test_a_deferred_earliest_event_takes_one_reward_and_learns_it_once_activated():
    book, closed = _book("earliest")
    ev = OpenEvent("d#hero", 0.0, 10.0, 0, 1.0, active=False, group="d")
    book.open(ev)
    book.reward(ev, 0.5, 1.0)
    with pytest.raises(DuplicateRewardError, match="event 'd' already has its final reward"):
        book.reward(ev, 1.0, 2.0)  # the first one is final, even before activation
    assert closed == []
    book.activate(ev, 3.0)
    assert closed == [("d#hero", 0.5, REWARDED, 3.0)]
    with pytest.raises(DuplicateRewardError, match="event 'd#hero' already has its final reward"):
        book.find("d#hero")


def test_activation_without_a_reward_waits_for_the_window_and_sum_waits_even_with_rewards():
    book, closed = _book("earliest")
    quiet = _open(book, "quiet", active=False)
    book.activate(quiet, 1.0)
    assert quiet.active and closed == []
    summed_book, summed = _book("sum")
    ev = _open(summed_book, "s", active=False)
    summed_book.reward(ev, 0.25, 1.0)
    summed_book.activate(ev, 2.0)
    assert summed == []  # 'sum' combines until the window ends
    assert book.expire(11.0) == 1 and summed_book.expire(11.0) == 1
    assert closed == [("quiet", 0.25, DEFAULTED, 10.0)]  # activated: the default reward, not "never activated"
    assert summed == [("s", 0.25, REWARDED, 10.0)]


def test_rewarded_events_leave_the_deadline_heap_as_stale_entries_that_compaction_drops():
    book, _ = _book("earliest")
    events = [_open(book, f"e{i}") for i in range(3000)]
    for ev in events[:2900]:
        book.reward(ev, 1.0, 1.0)  # closed early: their heap entries go stale
    assert len(book) == 100 and len(book.window.heap) <= 100 + 1024 + 1
    assert book.expire(11.0) == 100 and len(book) == 0


def test_the_ranking_and_the_decision_of_the_hot_path_are_the_plain_ones():
    """Issue 31's speed work sorts (id, probability) pairs in reverse (stable: ties keep their
    given order) and builds the frozen Decision in one step: the same lists and objects as the
    plain forms, ties and zeros of either sign included."""
    import dataclasses
    import random

    from bandit.lifecycle.book import Decision, decision

    def plain(ids, pmf, chosen):
        rest = sorted((i for i in range(len(pmf)) if i != chosen), key=lambda i: -pmf[i])
        return [(ids[chosen], pmf[chosen])] + [(ids[i], pmf[i]) for i in rest]

    rng = random.Random(0)
    for _ in range(3000):
        k = rng.randint(1, 9)
        pmf = [rng.choice([0.1, 0.2, 0.0, -0.0, 0.3, 1e-300]) for _ in range(k)]
        ids = [f"a{i}" for i in range(k)]
        chosen = rng.randrange(k)
        assert ranking(ids, pmf, chosen) == plain(ids, pmf, chosen)
    fast, slow = (
        decision("e", "b", 1, 0.7, [0.3, 0.7], [("b", 0.7), ("a", 0.3)]),
        Decision("e", "b", 1, 0.7, [0.3, 0.7], [("b", 0.7), ("a", 0.3)]),
    )
    assert fast == slow and repr(fast) == repr(slow) and dataclasses.asdict(fast) == dataclasses.asdict(slow)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.index = 0  # type: ignore[misc]
