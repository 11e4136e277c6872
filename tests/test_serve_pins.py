"""Contracts of the decision service that mutants survived (issue 28): the probability answered and
logged under explorationPercentage, and the configured defaultReward on expiry."""
from __future__ import annotations

import sqlite3

import orjson
import pytest

from bandit.service.decision_service import DecisionService
from bandit.service.config import ServiceConfig

ACTIONS = [{"id": f"v{k}", "features": {"style": f"s{k}"}} for k in range(4)]


def _rows(path, query, args=()):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(query, args).fetchall()
    finally:
        db.close()


def test_exploration_percentage_mixes_the_answered_and_logged_probabilities(tmp_path):
    """At 0.5 each action's probability is 0.5 x the policy's + 0.5 / 4 (hand-computed from the
    policy's own pmf), the ranking sums to 1, and the journal and the event log hold the same
    probability the caller was answered. Answering the unmixed one passed every test."""
    state = tmp_path / "s"
    with DecisionService(state, seed=3, id_seed=1) as svc:
        for i in range(150):  # a policy that prefers v2: its pmf is far from uniform
            r = svc.rank({"u": {"i": i % 5}}, ACTIONS, now=float(i))
            svc.reward(r.event_id, 1.0 if r.action_id == "v2" else 0.0, now=float(i) + 0.5)
        svc.set_config(ServiceConfig(exploration=0.5))
        answered = []
        for i in range(40):
            context = {"u": {"i": i % 5}}
            policy_pmf = list(svc.policy.predict(context, ACTIONS))
            assert max(policy_pmf) > 0.4  # far from uniform, so mixing changes every probability
            expected = {a["id"]: 0.5 * p + 0.5 / 4 for a, p in zip(ACTIONS, policy_pmf)}
            r = svc.rank(context, ACTIONS, now=100.0 + i)
            got = dict(r.ranking)
            assert got == pytest.approx(expected, abs=1e-9)
            assert sum(got.values()) == pytest.approx(1.0, abs=1e-9)
            assert r.probability == pytest.approx(expected[r.action_id], abs=1e-9)
            answered.append((r.event_id, r.probability))
            svc.reward(r.event_id, 1.0 if r.action_id == "v2" else 0.0, now=100.5 + i)
        assert min(p for _, p in answered) < 0.25  # some draws took an action the policy disfavours
    journal = {e: orjson.loads(b)["p"] for e, b in _rows(state / "journal.sqlite",
                                                         "SELECT event_id, body FROM records WHERE kind='rank'")}
    logged = dict(_rows(state / "events.sqlite", "SELECT event_id, probability FROM events"))
    for event_id, p in answered:
        assert journal[event_id] == pytest.approx(p, abs=1e-12)
        assert logged[event_id] == pytest.approx(p, abs=1e-12)


@pytest.mark.parametrize("default", [-0.5, 0.3])
def test_expiry_journals_and_learns_the_configured_default_reward(tmp_path, default):
    """The only test used 0.0, so journalling and learning 0.0 instead passed."""
    state = tmp_path / "s"
    with DecisionService(state, seed=0, id_seed=1, reward_range=(-1.0, 1.0)) as svc:
        svc.set_config(ServiceConfig(reward_wait_s=10.0, default_reward=default))
        r = svc.rank({"u": {"x": 1}}, ACTIONS, now=0.0)
        learned = []
        real = svc.learn_closed
        svc.learn_closed = lambda ev, value, when: learned.append(value) or real(ev, value, when)
        assert svc.expire(now=11.0) == 1
        assert learned == [default]
        assert svc.counters["default_rewards"] == 1
    closes = [orjson.loads(b) for (b,) in _rows(state / "journal.sqlite",
                                                "SELECT body FROM records WHERE kind='close' AND event_id=?",
                                                (r.event_id,))]
    assert closes == [{"v": default, "why": "defaulted", "l": True}]
    assert _rows(state / "events.sqlite", "SELECT reward, defaulted FROM events WHERE event_id=?",
                 (r.event_id,)) == [(default, 1)]
