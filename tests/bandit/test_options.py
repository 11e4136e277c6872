"""Defaults a service relies on without reading the docs."""

from __future__ import annotations

from bandit import EventLog, VWPolicy
from bandit.options import DEFAULT_REWARD_WAIT_S
from tests.bandit_helpers import make_actions


def test_a_reward_arriving_later_on_the_wall_clock_is_accepted_by_default() -> None:
    p = VWPolicy(seed=0, secret="k")
    d = p.rank({"user": {"device": "tv"}}, make_actions(), now=1000.0)
    p.reward(d.event_id, 1.0, now=1300.0)  # five minutes later: inside the default 10-minute window
    assert p.n_learned == 1 and p.pending_count == 0
    assert DEFAULT_REWARD_WAIT_S == 600.0


def test_an_unrewarded_event_learns_the_default_reward_when_the_default_window_closes(tmp_path) -> None:
    p = VWPolicy(seed=0, secret="k", default_reward=0.25, log=tmp_path / "e.sqlite")
    d = p.rank({"user": {"device": "tv"}}, make_actions(), now=1000.0)
    assert p.expire(now=1000.0 + DEFAULT_REWARD_WAIT_S - 1) == 0 and p.pending_count == 1
    assert p.expire(now=1000.0 + DEFAULT_REWARD_WAIT_S + 1) == 1 and p.n_learned == 1
    p.close()
    (ev,) = EventLog(tmp_path / "e.sqlite", readonly=True).iter_events()
    assert ev.event_id == d.event_id and ev.reward == 0.25 and ev.defaulted
