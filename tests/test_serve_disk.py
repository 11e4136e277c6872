"""The disk a running service uses: a bounded journal WAL, owner-only files, no stale temporaries,
and what a full disk answers (issues 27 and 28)."""
from __future__ import annotations

import os
import stat

import httpx

from bandit.service import DecisionService
from bandit_helpers import make_actions
from serve_helpers import Server, rank_body


def test_the_journal_wal_stays_bounded_while_the_service_runs(tmp_path):
    """It grew ~22 KB per event (66 MB at 3k events) and shrank only on SIGTERM."""
    state = tmp_path / "state"
    srv = Server(state).start()
    try:
        sizes = []
        for i in range(2400):
            r = srv.client.post("/rank", json=rank_body(i))
            assert r.status_code == 201
            assert srv.client.post(f"/events/{r.json()['eventId']}/reward", json={"value": 1.0}).status_code == 204
            if i % 400 == 399:
                sizes.append((state / "journal.sqlite-wal").stat().st_size)
        assert max(sizes) <= 8 << 20, sizes  # journal_size_limit 4 MiB plus what one checkpoint interval adds
        assert sizes[-1] <= sizes[1] + (1 << 20), sizes  # not growing with the number of events
        status = httpx.get(srv.url + "/status").json()
        assert status["journalBytes"] >= (state / "journal.sqlite").stat().st_size
        assert "artbandit_journal_bytes " in httpx.get(srv.url + "/metrics", headers=srv.client.headers).text
    finally:
        srv.stop()


def test_journal_files_are_owner_only(tmp_path):
    with DecisionService(tmp_path / "s", id_seed=1) as svc:
        r = svc.rank({"u": {"x": 1}}, make_actions()[:3])
        svc.reward(r.event_id, 1.0)
        names = [p for p in (tmp_path / "s").iterdir() if p.name.startswith("journal.sqlite")]
        assert {p.name for p in names} >= {"journal.sqlite", "journal.sqlite-wal"}
        for p in names:
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, (p.name, oct(p.stat().st_mode))


def test_temporaries_left_by_a_killed_run_are_removed_at_start(tmp_path):
    state = tmp_path / "s"
    with DecisionService(state, id_seed=1) as svc:
        svc.rank({"u": {"x": 1}}, make_actions()[:3])
    ckpts = state / "checkpoints"
    left = [ckpts / ".current.json.k2j_x8q1.tmp", state / ".config.json.abcd1234.tmp",
            state / ".serve-state.json.zz99zz99.tmp"]
    for p in left:
        p.write_text("{half")
    (ckpts / ".ckpt-000000000004-00001765000000000000000.abtmp-99999999-0a1b2c3d").mkdir()
    keep = [state / "notes.current.json.tmp", ckpts / "current.json.bak", state / ".config.json.tmp"]
    for p in keep:  # not artbandit's pattern: never touched
        p.write_text("mine")
    with DecisionService(state, id_seed=1) as svc:
        assert svc.status()["eventsPending"] == 1
    assert not any(p.exists() for p in left)
    assert not [e for e in ckpts.iterdir() if e.name.startswith(".ckpt-")]
    assert all(p.read_text() == "mine" for p in keep)
    assert stat.S_IMODE((state / "lock").stat().st_mode) == 0o600
