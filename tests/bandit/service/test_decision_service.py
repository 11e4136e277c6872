"""Tests of bandit.service.decision_service, in process: rank/reward/activate around the event book,
the probability answered and logged under explorationPercentage, the configured defaultReward on
expiry, hostile values refused and rolled back, memory bounded by bytes, Personalizer's reward
windows, multi-slot and deferred events, LoggingOnly. (Restarts: test_recovery.py; exports:
test_model_export.py; the journal and the state folder: their own files.)
"""

from __future__ import annotations

import sqlite3

import orjson
import pytest

import bandit.vwformat as vwformat
from bandit.errors import BanditError, DuplicateRewardError, ExpiredEventError
from bandit.service.config import ServiceConfig
from bandit.service.decision_service import DecisionService, Slot
from tests.bandit_helpers import make_actions
from tests.serve_helpers import HOSTILE, big_context, four_actions, lib_rank, train_v2, v2_probability

SELECT = "--cb_explore_adf --select"


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
    journal = {
        e: orjson.loads(b)["p"]
        for e, b in _rows(state / "journal.sqlite", "SELECT event_id, body FROM records WHERE kind='rank'")
    }
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
    closes = [
        orjson.loads(b)
        for (b,) in _rows(
            state / "journal.sqlite", "SELECT body FROM records WHERE kind='close' AND event_id=?", (r.event_id,)
        )
    ]
    assert closes == [{"v": default, "why": "defaulted", "l": True}]
    assert _rows(state / "events.sqlite", "SELECT reward, defaulted FROM events WHERE event_id=?", (r.event_id,)) == [
        (default, 1)
    ]


def test_values_vw_cannot_learn_from_are_refused_in_the_library(tmp_path):
    with DecisionService(tmp_path / "s", seed=0, id_seed=1) as svc:
        for v in HOSTILE:
            with pytest.raises(BanditError, match=r"within ±1e\+10"):
                svc.rank({"user": {"x": v}}, four_actions())
            with pytest.raises(BanditError, match=r"within ±1e\+10"):
                svc.rank({"user": {"seg": "a"}}, four_actions(b=v))
        with pytest.raises(BanditError, match=r"within ±1e\+10"):  # measured: 1e13 already poisons vw:select
            svc.rank({"user": {"x": 1e13}}, four_actions())
        assert svc.status()["ranks"] == 0 and svc.status()["eventsPending"] == 0
        ok = svc.rank({"user": {"x": 1e10, "y": -1.7e9}}, four_actions(b=1e10))  # the bound itself is accepted
        svc.reward(ok.event_id, 1.0)
        train_v2(lib_rank(svc), svc.reward)
        assert v2_probability(svc) > 0.9


def test_a_model_that_goes_non_finite_is_rolled_back_and_never_checkpointed(tmp_path, monkeypatch):
    """The second line of defence: were a hostile value to get past the bound, learning it turns
    vw:select's scores NaN; the service rolls back to the last checkpoint and says so."""
    state = tmp_path / "s"
    with DecisionService(state, seed=0, id_seed=1) as svc:
        train_v2(lib_rank(svc), svc.reward, n=20)
        svc.checkpoint()
        monkeypatch.setattr(vwformat, "MAX_ABS_VALUE", float("inf"))  # let poison through
        for v in HOSTILE:
            r = svc.rank({"user": {"x": v}}, four_actions())
            svc.reward(r.event_id, 1.0)
        monkeypatch.undo()
        status = svc.status()
        assert status["modelRejections"] >= 1 and "non-finite" in status["modelError"]
        assert status["learned"] == 20
        train_v2(lib_rank(svc), svc.reward)
        assert v2_probability(svc) > 0.9
    with DecisionService(state, seed=0, id_seed=1) as svc:  # the damage does not survive a restart
        assert v2_probability(svc) > 0.9
        assert svc.status()["modelRejections"] == 0


def test_pending_events_are_bounded_by_a_memory_budget_and_give_it_back(tmp_path):
    """1,100 never-rewarded ranks with 900 KB contexts took the service from 90 MB to 2.1 GB."""
    from bandit.service.checks import CapacityError

    state = tmp_path / "s"
    budget = 8 << 20
    with DecisionService(state, seed=0, id_seed=1, max_pending_bytes=budget) as svc:
        ranked = []
        with pytest.raises(CapacityError, match="memory budget for pending events is full"):
            for i in range(100):
                ranked.append(svc.rank(big_context(i, 100), four_actions(), now=float(i)).event_id)
        # ~100 KB of JSON counts ~6x: the budget holds about 13 such events, never all 100
        assert 8 <= len(ranked) <= 20
        status = svc.status()
        assert status["eventsPending"] == len(ranked) and status["ranks"] == len(ranked)
        assert budget <= status["pendingBytes"] <= budget + 700_000
        for event_id in ranked[: len(ranked) // 2]:  # rewards give the budget back
            svc.reward(event_id, 1.0, now=200.0)
        assert svc.status()["pendingBytes"] < budget // 2 + 700_000
        svc.rank(big_context(1000, 100), four_actions(), now=201.0)
    with DecisionService(state, seed=0, id_seed=1, max_pending_bytes=budget) as svc:  # recovered events count
        assert svc.status()["eventsPending"] == len(ranked) - len(ranked) // 2 + 1
        assert svc.status()["pendingBytes"] > budget // 3


def test_the_action_list_memory_is_keyed_by_digest_and_bounded(tmp_path):
    """journal._set_seqs was keyed by the whole action-list JSON (50 x 200-character ids: ~12 KB a key)."""
    with DecisionService(tmp_path / "s", seed=0, id_seed=1) as svc:
        for i in range(30):
            svc.rank({"u": {"i": i}}, [{"id": f"{i}-{k}-" + "x" * 190, "features": {}} for k in range(50)])
        keys = list(svc.journal._set_seqs)
        assert len(keys) == 30 and all(len(k) == 16 for k in keys)


def test_per_decision_caches_are_bounded_by_bytes(tmp_path):
    """Caches keyed by action ids or lists grew by count only: fresh 200-character ids in every
    request (4,000 ranks x 50 actions: 90 -> 486 MB and rising)."""
    from bandit.features import ActionRegistry
    from bandit.policies import vw as vw_policy
    from bandit.service import joined_log

    registry = ActionRegistry(max_bytes=1 << 20)
    for i in range(3000):
        registry.lookup([{"id": f"{i}-" + "x" * 200, "features": {"f": 1}}])
    assert registry._bytes <= 1 << 20 and len(registry._by_id) < 3000
    with DecisionService(tmp_path / "s", seed=0, id_seed=1) as svc:
        for i in range(40):
            acts = [{"id": f"{i}-{k}-" + "x" * 190, "features": {}} for k in range(50)]
            r = svc.rank({"u": {"i": i}, "big": {f"f{j}": "y" * 900 for j in range(200)}}, acts)
            svc.reward(r.event_id, 1.0)
        cache = joined_log._ACTIONS_JSON
        assert cache.chars <= cache.max_chars == 8 << 20
        for examples in svc.policy._caches:  # vw:select: one example cache per model
            assert examples.context_chars <= vw_policy.SHARED_CHARS
            assert examples.context_chars == sum(len(k) for k in examples.contexts)


def test_reward_windows_default_reward_and_deferred_events(tmp_path):
    actions = make_actions()[:3]
    svc = DecisionService(tmp_path / "s")
    svc.set_config(ServiceConfig(reward_wait_s=10.0, default_reward=0.0))
    plain = svc.rank({"u": {"x": 1}}, actions, now=0.0).event_id
    deferred = svc.rank({"u": {"x": 2}}, actions, defer=True, now=0.0).event_id
    svc.close()
    svc = DecisionService(tmp_path / "s")  # expiry still applies to events ranked before a restart
    assert svc.expire(now=20.0) == 2
    assert svc.counters["default_rewards"] == 1 and svc.counters["not_activated"] == 1
    assert svc.counters["learned"] == 1
    with pytest.raises(ExpiredEventError):
        svc.reward(plain, 1.0, now=21.0)
    with pytest.raises(ExpiredEventError):
        svc.activate(deferred, now=21.0)
    svc.close()


def test_average_aggregation_and_multislot_never_repeats_an_action(tmp_path):
    svc = DecisionService(tmp_path / "s", seed=2)
    svc.set_config(ServiceConfig(reward_wait_s=10.0, reward_aggregation="average"))
    actions = make_actions()
    event = svc.rank({"u": {"x": 1}}, actions, now=0.0).event_id
    svc.reward(event, 1.0, now=1.0)
    svc.reward(event, 0.0, now=2.0)
    assert svc.expire(now=11.0) == 1
    row = next(e for e in svc.log.iter_events() if e.event_id == event)
    assert row.reward == 0.5 and not row.defaulted
    for i in range(30):
        slots = [Slot(f"s{k}", {"pos": k}) for k in range(4)]
        eid, chosen = svc.rank_multislot({"u": {"x": i}}, actions, slots, now=20.0 + i)
        assert len({a for _, a in chosen}) == 4
    with pytest.raises(DuplicateRewardError):
        svc.set_config(ServiceConfig(reward_wait_s=10.0))
        e2 = svc.rank({"u": {"x": 9}}, actions, now=60.0).event_id
        svc.reward(e2, 1.0, now=60.5)
        svc.reward(e2, 1.0, now=60.6)
    svc.close()


def test_late_rewards_get_the_right_error_after_memory_forgets(tmp_path):
    svc = DecisionService(tmp_path / "s")
    svc.set_config(ServiceConfig(reward_wait_s=10.0))
    actions = make_actions()[:3]
    rewarded = svc.rank({"u": {"x": 1}}, actions, now=0.0).event_id
    expired = svc.rank({"u": {"x": 2}}, actions, now=0.0).event_id
    svc.reward(rewarded, 1.0, now=1.0)
    svc.expire(now=11.0)
    svc.book.window.closed.clear()  # as after more closes than it remembers: the journal answers
    with pytest.raises(DuplicateRewardError):
        svc.reward(rewarded, 1.0, now=12.0)
    with pytest.raises(ExpiredEventError):
        svc.reward(expired, 1.0, now=12.0)
    svc.close()


def test_logging_only_serves_the_baseline_logs_and_never_learns(tmp_path):
    svc = DecisionService(tmp_path / "s")
    svc.set_config(ServiceConfig(learning_mode="LoggingOnly"))
    actions = make_actions()[:4]
    before = svc.policy.predict({"u": {"x": 1}}, actions).tolist()
    for i in range(20):
        r = svc.rank({"u": {"x": i}}, actions, excluded=["v0"], now=float(i))
        assert r.action_id == "v1" and r.probability == 1.0
        svc.reward(r.event_id, 1.0, now=float(i))
    assert svc.policy.n_learned == 0 and svc.counters["learned"] == 0
    assert svc.policy.predict({"u": {"x": 1}}, actions).tolist() == before
    svc.commit()
    rows = list(svc.log.iter_events())
    assert len(rows) == 20 and all(r.action_id == "v1" and r.probability == 1.0 and r.reward == 1.0 for r in rows)
    svc.close()
