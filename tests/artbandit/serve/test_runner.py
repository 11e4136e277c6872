"""`artbandit serve` (artbandit.serve.runner) loses nothing: SIGKILL mid-traffic, restart, SIGTERM drain, the state lock."""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tests.serve_helpers import HEADERS, Server, journal_ids, rank_body


def test_sigkill_mid_traffic_loses_no_acknowledged_event(tmp_path):
    state = tmp_path / "state"
    srv = Server(state).start()
    ranked, rewarded, pending = [], [], []
    lock = threading.Lock()
    stop = threading.Event()

    def traffic(worker: int) -> None:
        client = httpx.Client(base_url=srv.url + "/personalizer/v1.0", headers=HEADERS, timeout=5.0)
        i = 0
        while not stop.is_set():
            i += 1
            try:
                r = client.post("/rank", json=rank_body(worker * 100_000 + i))
                if r.status_code != 201:
                    continue
                event = r.json()["eventId"]
                with lock:
                    ranked.append(event)
                if i % 3 == 0:  # leave a third waiting for their reward across the crash
                    with lock:
                        pending.append(event)
                    continue
                if client.post(f"/events/{event}/reward", json={"value": 1.0}).status_code == 204:
                    with lock:
                        rewarded.append(event)
            except httpx.HTTPError:
                break  # the server is gone
        client.close()

    threads = [threading.Thread(target=traffic, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    while len(ranked) < 300:
        time.sleep(0.01)
    srv.stop(signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join()
    records = journal_ids(state)
    assert set(ranked) <= records["rank"], "an acknowledged rank is missing from the journal"
    assert set(rewarded) <= records["reward"], "an acknowledged reward is missing from the journal"

    srv.start()
    try:
        status = httpx.get(srv.url + "/status").json()
        assert status["eventsPending"] >= len(pending)
        learned = status["eventsLearned"]
        for event in pending:  # ranked before the crash: the reward is accepted and learned
            assert srv.client.post(f"/events/{event}/reward", json={"value": 0.5}).status_code == 204
        assert httpx.get(srv.url + "/status").json()["eventsLearned"] == learned + len(pending)
        for event in rewarded[:20]:  # rewarded before the crash: still known as such
            assert srv.client.post(f"/events/{event}/reward", json={"value": 1}).status_code == 409
    finally:
        srv.stop()
    # the derived event log (what replay and evaluation read) has every closed event, with its reward
    db = sqlite3.connect(f"file:{state / 'events.sqlite'}?mode=ro", uri=True)
    logged = dict(db.execute("SELECT event_id, reward FROM events").fetchall())
    db.close()
    assert [e for e in rewarded if logged.get(e) != 1.0] == []
    assert [e for e in pending if logged.get(e) != 0.5] == []


def _ops(n: int):
    """A fixed request sequence: ranks with known ids; most rewarded at once, every 4th later."""
    for i in range(n):
        yield "rank", i
        value = int(hashlib.sha256(str(i).encode()).hexdigest(), 16) % 2
        if i % 4:
            yield "reward", (i, float(value))
        if i % 4 == 0 and i >= 8:
            yield "reward", (i - 8, 0.7)  # an event ranked 8 steps ago (sometimes before the crash)


def _run(srv: Server, ops) -> None:
    for kind, arg in ops:
        if kind == "rank":
            r = srv.client.post("/rank", json=rank_body(arg, eventId=f"e{arg}"))
            assert r.status_code == 201, r.text
        else:
            i, value = arg
            r = srv.client.post(f"/events/e{i}/reward", json={"value": value})
            assert r.status_code == 204, r.text


def _probe(srv: Server) -> list[list[float]]:
    pmfs = []
    for i in range(6):
        r = srv.client.post("/rank", json=rank_body(50_000 + i, eventId=f"probe{i}", deferActivation=True))
        pmfs.append([x["probability"] for x in sorted(r.json()["ranking"], key=lambda x: x["id"])])
    return pmfs


@pytest.mark.parametrize(
    "arguments", [None, "--cb_explore_adf --squarecb --gamma_scale 10 -q cA"], ids=["default vw:select", "one model"]
)
def test_recovered_model_equals_the_uninterrupted_one(tmp_path, arguments):
    ops = list(_ops(160))
    cut = len(ops) // 2
    policy = {"name": "p", "arguments": arguments}
    # uninterrupted
    with Server(tmp_path / "a", seed=3) as a:
        if arguments:
            assert a.client.put("/configurations/policy", json=policy).status_code == 200
        a.client.put("/configurations/service", json={"modelExportFrequency": "PT0.5S"})
        _run(a, ops)
        expected = _probe(a)
    # killed half-way, after at least one periodic checkpoint and some events learned since it
    b = Server(tmp_path / "b", seed=3).start()
    if arguments:
        assert b.client.put("/configurations/policy", json=policy).status_code == 200
    b.client.put("/configurations/service", json={"modelExportFrequency": "PT0.5S"})
    _run(b, ops[: cut // 2])
    seq = httpx.get(b.url + "/status").json()["journalSeq"]
    for _ in range(200):  # wait for a periodic checkpoint of this state; then none, so the kill needs a replay
        if httpx.get(b.url + "/status").json()["checkpointSeq"] >= seq:
            break
        time.sleep(0.05)
    b.client.put("/configurations/service", json={"modelExportFrequency": "PT1H"})
    _run(b, ops[cut // 2 : cut])
    before = httpx.get(b.url + "/status").json()
    assert 0 < before["checkpointSeq"] < before["journalSeq"]
    b.stop(signal.SIGKILL)
    b.start()
    try:
        after = httpx.get(b.url + "/status").json()
        assert after["relearned"] > 0
        assert after["eventsLearned"] == before["eventsLearned"]
        assert after["eventsPending"] == before["eventsPending"]
        _run(b, ops[cut:])
        got = _probe(b)
        # the restarted service runs the policy it was given, not a default (vw:select has a -q ccA model)
        assert ("ccA" in b.client.get("/model/properties").json()["vwArguments"]) == (arguments is None)
    finally:
        b.stop()
    flat_got, flat_expected = sum(got, []), sum(expected, [])
    assert flat_got == pytest.approx(flat_expected, abs=1e-9)
    assert max(flat_expected) > 0.5  # it did learn something (uniform would be 0.25)


def test_sigterm_drains_and_checkpoints(tmp_path):
    state = tmp_path / "state"
    srv = Server(state).start()
    answered = []

    def burst(worker: int) -> None:
        with httpx.Client(base_url=srv.url + "/personalizer/v1.0", headers=HEADERS, timeout=10.0) as c:
            for i in range(40):
                try:
                    r = c.post("/rank", json=rank_body(worker * 1000 + i))
                    if r.status_code == 201:
                        answered.append(r.json()["eventId"])
                        c.post(f"/events/{answered[-1]}/reward", json={"value": 1})
                except httpx.HTTPError:
                    return

    threads = [threading.Thread(target=burst, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    while len(answered) < 20:
        time.sleep(0.005)
    code = srv.stop(signal.SIGTERM)
    for t in threads:
        t.join()
    assert code in (0, -signal.SIGTERM), srv.stderr  # uvicorn re-raises the signal after its drain
    assert "Traceback" not in srv.stderr
    assert set(answered) <= journal_ids(state)["rank"]
    current = json.loads((state / "checkpoints" / "current.json").read_text())
    db = sqlite3.connect(f"file:{state / 'journal.sqlite'}?mode=ro", uri=True)
    last = db.execute("SELECT MAX(seq) FROM records").fetchone()[0]
    db.close()
    assert current["journal_seq"] == last  # the final checkpoint covers everything
    srv.start()
    try:
        assert httpx.get(srv.url + "/status").json()["relearned"] == 0
    finally:
        srv.stop()


def test_second_service_on_the_same_state_refuses_to_start(tmp_path):
    with Server(tmp_path / "state") as srv:
        second = subprocess.run(
            [sys.executable, "-m", "artbandit", "serve", "--state", str(srv.state), "--port", "0"],
            env={"ARTBANDIT_API_KEY": "another-key-0123456789", "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1
        assert "already in use by another artbandit service" in second.stderr
        assert "Traceback" not in second.stderr
        assert srv.client.post("/rank", json=rank_body(1)).status_code == 201
    assert oct((srv.state).stat().st_mode & 0o777) == "0o700"


def test_refuses_to_start_without_a_key_or_in_a_strangers_folder(tmp_path):
    run = [sys.executable, "-m", "artbandit", "serve", "--port", "0"]
    no_key = subprocess.run(
        run + ["--state", str(tmp_path / "s")],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert no_key.returncode == 2 and "ARTBANDIT_API_KEY" in no_key.stderr
    stranger = tmp_path / "photos"
    stranger.mkdir()
    (stranger / "holiday.jpg").write_bytes(b"\xff\xd8")
    refused = subprocess.run(
        run + ["--state", str(stranger), "--no-auth"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1 and "not an artbandit serve state folder" in refused.stderr
    assert [p.name for p in stranger.iterdir()] == ["holiday.jpg"]


def test_a_port_in_use_is_a_clean_exit_that_leaves_the_state_folder_unlocked(tmp_path):
    """The runner closes what it opened when uvicorn cannot serve (StateDir.locked says whether the
    service was shut down yet; the runner used to read the private lock file handle)."""
    import socket

    from artbandit.serve.runner import serve
    from bandit.service.decision_service import DecisionService
    from bandit.service.state_dir import StateDir

    state = tmp_path / "state"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(SystemExit) as exited:
            serve(str(state), host="127.0.0.1", port=taken.getsockname()[1], key=b"k" * 16, quiet=True)
    assert exited.value.code not in (0, None)  # uvicorn: 3, its startup failure
    folder = StateDir(state)  # the lock is free again: a second opener would be refused otherwise
    assert folder.locked
    folder.close()
    assert not folder.locked
    with DecisionService(state, id_seed=1) as svc:
        assert svc.status()["ranks"] == 0


def test_the_service_freezes_its_startup_objects_before_it_serves(tmp_path, monkeypatch):
    """Full garbage collections walking the startup object graph (FastAPI, numpy, VW bindings) were
    most of the slowest ranks (docs/serve.md); the process freezes that graph before serving."""
    import gc

    import uvicorn

    from artbandit.serve.runner import serve

    seen = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: seen.append(gc.get_freeze_count()))
    gc.unfreeze()
    try:
        serve(str(tmp_path / "state"), host="127.0.0.1", port=0, key=b"k" * 16, quiet=True)
        assert seen and seen[0] > 10_000  # the whole startup graph, not a handful of objects
    finally:
        gc.unfreeze()
