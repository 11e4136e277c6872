"""Nothing learned is lost: restarts recover pending events, commits happen on time and at exit,
a SIGKILLed writer's events still take their late rewards."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from bandit import BanditError, EventLog, Personalizer, UnknownEventError, make_policy
from tests.bandit_helpers import Stream, make_actions

SECRET = "test-secret-0123456789"
TESTS = Path(__file__).parent


def _probe(policy) -> np.ndarray:
    stream = Stream(99)
    return np.array([policy.predict(stream.next()[1], make_actions()) for _ in range(20)])


def test_a_restart_recovers_pending_events_and_their_late_rewards_learn_and_are_logged(tmp_path):
    path = tmp_path / "e.sqlite"
    stream = Stream(0)
    with make_policy("vw", seed=0, log=path, secret=SECRET, reward_wait_s=600.0) as a:
        decisions = [a.rank(stream.next()[1], make_actions(), now=1000.0 + t) for t in range(40)]
        for d in decisions[::2]:
            a.reward(d.event_id, 1.0, now=1001.0)
    waiting = decisions[1::2]
    b = make_policy("vw", seed=0, log=path, secret=SECRET, reward_wait_s=600.0)
    assert b.pending_count == 20
    before = _probe(b)
    for d in waiting[:15]:
        b.reward(d.event_id, 0.0, now=1500.0)  # cost 1: moves VW's initial scores of 0
    assert b.n_learned == 15 and b.pending_count == 5
    assert not np.array_equal(before, _probe(b))  # the late rewards were learned
    with pytest.raises(UnknownEventError):
        b.reward("never-ranked", 1.0, now=1500.0)
    # the other 5 expire on their original schedule (logged time + window) with the default reward
    assert b.expire(now=1000.0 + 39 + 600.0 + 1) == 5 and b.n_learned == 20
    b.close()
    rows = {e.event_id: e for e in EventLog(path, readonly=True).iter_events()}
    assert all(rows[d.event_id].reward == 1.0 and not rows[d.event_id].defaulted for d in decisions[::2])
    assert all(rows[d.event_id].reward == 0.0 and rows[d.event_id].reward_time == 1500.0 for d in waiting[:15])
    assert not any(rows[d.event_id].defaulted for d in waiting[:15])
    for d in waiting[15:]:
        row = rows[d.event_id]
        assert row.reward == 0.0 and row.defaulted and row.reward_time == row.time + 600.0


def test_recovered_events_that_expire_learn_exactly_what_an_explicit_default_reward_would(tmp_path):
    Personalizer(seed=3, secret=SECRET).save(tmp_path / "model")
    options = dict(secret=SECRET, reward_wait_s=100.0, default_reward=0.25)
    stream = Stream(5)
    contexts = [stream.next()[1] for _ in range(30)]

    def rank_all(policy):
        return [policy.rank(c, make_actions(), now=float(t)) for t, c in enumerate(contexts)]

    crashed = Personalizer.load(tmp_path / "model", log=tmp_path / "e.sqlite", **options)
    ranked = rank_all(crashed)
    crashed.close()  # gone without rewards or expiry
    restarted = Personalizer.load(tmp_path / "model", log=tmp_path / "e.sqlite", **options)
    assert restarted.expire(now=1000.0) == 30 and restarted.n_learned == 30

    def explicit(value):
        ref = Personalizer.load(tmp_path / "model", **options)
        decisions = rank_all(ref)
        assert [d.index for d in decisions] == [d.index for d in ranked]  # same draws as the crashed run
        for d in decisions:
            ref.reward(d.event_id, value, now=float(len(contexts)))
        return _probe(ref)

    assert np.array_equal(_probe(restarted), explicit(0.25))
    assert not np.array_equal(_probe(restarted), explicit(1.0))  # the comparison can tell rewards apart
    restarted.close()
    rows = list(EventLog(tmp_path / "e.sqlite", readonly=True).iter_events())
    assert [r.event_id for r in rows] == [d.event_id for d in ranked]
    assert all(r.reward == 0.25 and r.defaulted and r.reward_time == r.time + 100.0 for r in rows)


_CHILD = """
import sys, time
sys.path.insert(0, {root!r})  # the project root, not tests/ (whose bandit/ would shadow the library)
import bandit
from tests.bandit_helpers import Stream, make_actions
p = bandit.Personalizer(seed=0, log={path!r}, secret={secret!r}, reward_wait_s=3600.0)
stream = Stream(0)
while True:
    user_id, context, _ = stream.next()
    d = p.rank(context, make_actions(), user_id=user_id)
    print(d.event_id, d.index, flush=True)
    time.sleep(0.002)
"""


def test_sigkill_mid_traffic_then_restart_accepts_learns_and_logs_pre_crash_rewards(tmp_path):
    path = tmp_path / "e.sqlite"
    script = _CHILD.format(root=str(TESTS.parent), path=str(path), secret=SECRET)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    printed = []
    try:
        for line in child.stdout:
            printed.append(line.split())
            if len(printed) == 300:
                break
        time.sleep(1.5)  # traffic goes on; the first 300 are committed well within this
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    logged = {e.event_id: e for e in EventLog(path, readonly=True).iter_events()}
    assert all(eid in logged for eid, _ in printed)
    assert len(logged) > 300  # killed mid-traffic, after more decisions were committed
    restarted = Personalizer(seed=0, log=path, secret=SECRET, reward_wait_s=3600.0)
    assert restarted.pending_count == len(logged)
    before = _probe(restarted)
    for eid, index in printed:
        restarted.reward(eid, 1.0 if int(index) % 2 else 0.0)
    assert restarted.n_learned == 300 and restarted.pending_count == len(logged) - 300
    assert not np.array_equal(before, _probe(restarted))
    restarted.close()
    rows = {e.event_id: e for e in EventLog(path, readonly=True).iter_events()}
    for eid, index in printed:
        assert rows[eid].reward == (1.0 if int(index) % 2 else 0.0) and not rows[eid].defaulted
        assert rows[eid].chosen_index == int(index)
    assert sum(r.reward is None for r in rows.values()) == len(logged) - 300


def test_rows_are_committed_within_a_fraction_of_a_second_without_close_or_more_traffic(tmp_path):
    path = tmp_path / "e.sqlite"
    p = make_policy("uniform", log=path, secret=SECRET)
    d = p.rank({"u": {"x": 1.0}}, make_actions(), now=0.0)
    p.reward(d.event_id, 1.0, now=0.0)
    seen = None
    for _ in range(200):  # another connection, as another process would read it
        with sqlite3.connect(path) as db:
            seen = db.execute("SELECT event_id, reward FROM events").fetchall()
        if seen and seen[0][1] is not None:
            break
        time.sleep(0.05)
    assert seen == [(d.event_id, 1.0)]
    assert p.log.commit_interval_s <= 0.25
    p.close()


def test_interpreter_exit_commits_what_was_buffered(tmp_path):
    path = tmp_path / "e.sqlite"
    script = textwrap.dedent(f"""
        import bandit
        p = bandit.make_policy("uniform", log={str(path)!r}, secret={SECRET!r})
        log = p.log
        log.commit_interval_s = 1e9  # only the exit can commit these
        ids = [p.rank({{"u": {{"x": float(i)}}}}, [{{"id": "a"}}, {{"id": "b"}}], now=0.0).event_id for i in range(3)]
        p.reward(ids[0], 1.0, now=0.0)
        print(" ".join(ids))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    ids = out.stdout.split()
    rows = {e.event_id: e for e in EventLog(path, readonly=True).iter_events()}
    assert sorted(rows) == sorted(ids) and rows[ids[0]].reward == 1.0


def test_policy_and_event_log_are_context_managers(tmp_path):
    with EventLog(tmp_path / "e.sqlite", commit_interval_s=1e9) as log:
        with make_policy("uniform", log=log) as p:
            p.rank({"u": {"x": 1.0}}, make_actions(), now=0.0)
        assert log._db is None  # closing the policy closed its log
    with pytest.raises(BanditError, match="commit_interval_s"):
        EventLog(tmp_path / "f.sqlite", commit_interval_s=0)
    assert len(EventLog(tmp_path / "e.sqlite", readonly=True)) == 1


def test_an_expired_event_learns_exactly_what_an_explicit_default_reward_would():
    def trained(finish):
        p = Personalizer(seed=4, secret=SECRET, reward_wait_s=5.0, default_reward=0.25)
        stream = Stream(4)
        decisions = [p.rank(stream.next()[1], make_actions(), now=float(t)) for t in range(3)]
        finish(p, decisions)
        return _probe(p)

    expired = trained(lambda p, ds: p.expire(now=100.0))
    explicit = trained(lambda p, ds: [p.reward(d.event_id, 0.25, now=4.0) for d in ds])
    other = trained(lambda p, ds: [p.reward(d.event_id, 1.0, now=4.0) for d in ds])
    assert np.array_equal(expired, explicit) and not np.array_equal(expired, other)
