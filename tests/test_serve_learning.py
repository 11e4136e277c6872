"""The decision service learns (over HTTP and in process) and keeps Personalizer's reward windows."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bandit import UniformPolicy
from bandit.service.client import ServiceClient
from bandit.errors import DuplicateRewardError, ExpiredEventError
from bandit.service.decision_service import DecisionService, Slot
from bandit.service.config import ServiceConfig
from tests.bandit_helpers import make_actions, run
from tests.serve_helpers import KEY, Server


def test_learns_over_http_clearly_above_uniform(tmp_path):
    n = 1000
    uniform = run(UniformPolicy(seed=0), n, seed=11)
    with Server(tmp_path / "state", seed=5) as srv, ServiceClient(srv.url, KEY) as client:
        ctr = run(client, n, seed=11)
        status = client.status()
        simulated = subprocess.run(
            [sys.executable, "-m", "artbandit", "simulate", "--service", srv.url, "-n", "300", "--json", "-q"],
            env={**os.environ, "ARTBANDIT_API_KEY": KEY}, capture_output=True, text=True, timeout=120)
        after = client.status()
    assert simulated.returncode == 0, simulated.stderr
    assert 0.0 < json.loads(simulated.stdout)["ctr"] < 1.0
    assert after["ranks"] == n + 300 and after["eventsPending"] == 0  # every simulated impression went over HTTP
    assert status["learned"] == n and status["eventsPending"] == 0
    assert uniform == pytest.approx(0.225, abs=0.04)
    print(f"over HTTP: CTR {ctr:.3f}, uniform {uniform:.3f}")
    assert ctr > uniform + 0.1, (ctr, uniform)


def _twins(tmp_path):
    # generated ids are random unless an id seed is asked for: the twins need the same ids
    return DecisionService(tmp_path / "a", seed=1, id_seed=1), DecisionService(tmp_path / "b", seed=1, id_seed=1)


def test_library_restart_keeps_open_events_and_the_model(tmp_path):
    actions = make_actions()
    a, b = _twins(tmp_path)
    events = []
    for i in range(60):
        ctx = {"user": {"segment": ("action", "romance", "kids")[i % 3]}}
        ra = a.rank(ctx, actions, now=float(i))
        rb = b.rank(ctx, actions, now=float(i))
        assert ra == rb  # same seed, same requests: same decisions
        events.append(ra.event_id)
        if i % 2:
            a.reward(ra.event_id, 1.0, now=float(i))
            b.reward(rb.event_id, 1.0, now=float(i))
    b.close()
    b = DecisionService(tmp_path / "b", seed=1)  # restart: the checkpoint plus the journal
    assert len(b.book) == len(a.book) == 30
    for i, event in enumerate(events):
        if i % 2 == 0:
            a.reward(event, 0.3, now=100.0)
            b.reward(event, 0.3, now=100.0)
    ctx = {"user": {"segment": "kids"}}
    assert b.policy.predict(ctx, actions).tolist() == pytest.approx(a.policy.predict(ctx, actions).tolist(), abs=1e-9)
    a.close()
    b.close()


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


def test_a_failed_commit_is_retried_and_the_journal_skips_nothing(tmp_path, monkeypatch):
    svc = DecisionService(tmp_path / "s")
    actions = make_actions()[:3]
    first = svc.rank({"u": {"x": 1}}, actions, now=0.0).event_id
    real_write = svc.journal.write

    def disk_full(batch):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(svc.journal, "write", disk_full)
    with pytest.raises(OSError):
        svc.reward(first, 1.0, now=1.0)
    monkeypatch.setattr(svc.journal, "write", real_write)
    second = svc.rank({"u": {"x": 2}}, actions, now=2.0).event_id
    kinds = [(kind, event) for _, kind, event, _, _ in svc.journal.records() if kind != "set"]
    assert kinds == [("rank", first), ("reward", first), ("close", first), ("rank", second)]
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
