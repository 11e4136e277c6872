"""Event ids the DecisionService generates: unique across processes (OS randomness, as the
Personalizer's), deterministic only with an explicit id_seed, and never reused after a restart."""

from __future__ import annotations

import json
import subprocess
import sys

from bandit.lifecycle.event_ids import EventIds
from bandit.policies.vw import VWPolicy
from bandit.service.decision_service import DecisionService
from tests.bandit_helpers import make_actions

_RANK_IN_A_PROCESS = """
import json, sys
from bandit.service.decision_service import DecisionService
actions = [{"id": f"v{i}", "features": {"x": i}} for i in range(3)]
with DecisionService(sys.argv[1], seed=0) as svc:
    print(json.dumps([svc.rank({"u": {"i": i}}, actions, now=float(i)).event_id for i in range(20)]))
"""


def test_two_processes_with_the_same_seed_generate_different_event_ids(tmp_path):
    ids = []
    for name in ("a", "b"):  # same seed, same journal position: the old ids were equal
        out = subprocess.run(
            [sys.executable, "-c", _RANK_IN_A_PROCESS, str(tmp_path / name)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        ids.append(json.loads(out))
    assert all(len(e) == 32 and int(e, 16) >= 0 for e in ids[0] + ids[1])
    assert len(set(ids[0]) | set(ids[1])) == 40


def test_generated_ids_are_deterministic_only_with_an_explicit_id_seed(tmp_path):
    actions = make_actions()[:3]
    runs = {}
    for name, id_seed in (("a", 7), ("b", 7), ("c", None), ("d", None)):
        with DecisionService(tmp_path / name, seed=1, id_seed=id_seed) as svc:
            runs[name] = [svc.rank({"u": {"i": i}}, actions, now=float(i)).event_id for i in range(5)]
    assert runs["a"] == runs["b"]
    assert not set(runs["c"]) & set(runs["d"]) and not set(runs["c"]) & set(runs["a"])


def test_a_seeded_restart_never_hands_out_an_id_its_journal_holds(tmp_path):
    actions = make_actions()[:3]
    with DecisionService(tmp_path / "s", id_seed=3) as svc:
        first = [svc.rank({"u": {"i": i}}, actions, now=float(i)).event_id for i in range(5)]
    with DecisionService(tmp_path / "s", id_seed=3) as svc:  # the same seeded stream again
        again = [svc.rank({"u": {"i": i}}, actions, now=10.0 + i).event_id for i in range(5)]
        for event in first + again:
            svc.reward(event, 1.0, now=20.0)  # every id names exactly one event
    assert not set(first) & set(again)


def test_the_service_and_the_personalizer_share_one_id_source(tmp_path):
    with DecisionService(tmp_path / "s") as svc:
        assert isinstance(svc._ids, EventIds) and not svc._ids.seeded
    p = VWPolicy(id_seed=5)
    assert isinstance(p._ids, EventIds) and p._ids.seeded
    q = VWPolicy(id_seed=5)
    assert p.rank({"u": {"x": 1}}, make_actions()).event_id == q.rank({"u": {"x": 1}}, make_actions()).event_id


def test_ids_ending_in_a_newline_are_refused(tmp_path):
    """`$` matches before a trailing newline: 'e1\\n' was accepted and could never be rewarded."""
    import pytest

    from bandit.errors import BanditError
    from bandit.service.config import parse_duration
    from bandit.service.decision_service import Slot

    actions = make_actions()[:3]
    with DecisionService(tmp_path / "s", id_seed=1) as svc:
        for bad in ("e1\n", "e1\r\n", "\ne1"):
            with pytest.raises(BanditError, match="eventId"):
                svc.rank({"u": {"x": 1}}, actions, event_id=bad)
            with pytest.raises(BanditError, match="slot ids"):
                svc.rank_multislot({"u": {"x": 1}}, actions, [Slot(bad, {})])
        assert svc.status()["ranks"] == 0
        with pytest.raises(BanditError):
            parse_duration("PT10M\n", "rewardWaitTime")


def test_a_callers_event_id_is_checked_against_the_journal_after_a_restart(tmp_path):
    """Issue 28: checking only memory passed every test; a late reward then landed on the wrong event
    and the log held a duplicate id. After a restart memory holds nothing closed: the journal does."""
    import pytest

    from bandit.errors import BanditError

    actions = make_actions()[:3]
    with DecisionService(tmp_path / "s", id_seed=1) as svc:
        svc.rank({"u": {"x": 1}}, actions, event_id="order-1", now=1.0)
        svc.reward("order-1", 1.0, now=2.0)  # closed
        svc.rank({"u": {"x": 2}}, actions, event_id="order-2", now=3.0)  # still open
    with DecisionService(tmp_path / "s", id_seed=1) as svc:
        assert not svc.book.knows("order-1")  # only the journal knows it
        for used in ("order-1", "order-2"):
            with pytest.raises(BanditError, match="already used"):
                svc.rank({"u": {"x": 3}}, actions, event_id=used, now=4.0)
        assert svc.status()["ranks"] == 0
        svc.rank({"u": {"x": 3}}, actions, event_id="order-3", now=5.0)  # a fresh one is fine


def test_generated_ids_start_with_the_clock_so_the_logs_index_grows_at_its_end(monkeypatch):
    """Issue 31: the event log's unique index on the id took random ids all over it; ids now begin
    with 12 hex digits of milliseconds since the epoch, then 80 random bits (unguessable, unique)."""
    import os
    import time

    from bandit.lifecycle import event_ids

    ids = EventIds()
    before = time.time_ns() // 1_000_000
    made = [ids.new() for _ in range(3000)]  # several refills of the random pool
    after = time.time_ns() // 1_000_000
    assert all(len(e) == 32 and int(e, 16) >= 0 for e in made) and len(set(made)) == 3000
    stamps = [int(e[:12], 16) for e in made]
    assert before <= stamps[0] and stamps == sorted(stamps) and stamps[-1] <= after
    assert len({e[12:] for e in made}) == 3000  # the random part never repeats
    # a forked child refills its pool: it never hands out the parent's next random digits
    monkeypatch.setattr(event_ids, "_clock_ns", lambda: 0)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.write(write, ids.new().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    assert child[:12] == "0" * 12 and child != ids.new()
