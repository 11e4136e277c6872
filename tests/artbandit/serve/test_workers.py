"""`artbandit serve --workers N`: rankers on snapshots, one learner, the event stream between them.

Nothing lost, nothing learned twice: a ranker and the learner are SIGKILLed mid-traffic; every
acknowledged rank and reward is in the learner's journal exactly once, and the final model equals the
one a fresh DecisionService learns from the same stream in one uninterrupted pass.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

import httpx
import orjson
import pytest

from bandit import UniformPolicy
from bandit.service import wire
from bandit.service.client import ServiceClient
from bandit.service.decision_service import DecisionService
from bandit.service.model_export import import_model
from bandit.service.stream import open_stream
from bandit.service.stream.embedded import EmbeddedStream
from bandit.service.stream.learner import apply_message
from safeio.atomic import pid_alive
from tests.bandit_helpers import run
from tests.serve_helpers import KEY, Server, big_context, rank_body


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
        except KeyError:  # a status read between a worker's publications (NATS KV keys() under load: none)
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
def nats_url(nats_server):
    return nats_server.url


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
        # the killed ranker was started again (a new process starts in a second or more on a busy machine)
        _wait(srv, lambda s: s["workers"]["ranker-0"]["pid"] != killed["ranker"], "ranker-0 to start again")
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


def _all_rankers_at(srv: Server, version: int) -> dict:
    """Wait until every ranker serves a snapshot at or past stream position `version`."""
    return _wait(
        srv,
        lambda s: all(
            (w.get("snapshotVersion") or 0) >= version for n, w in s["workers"].items() if n.startswith("ranker")
        ),
        f"every ranker at snapshot {version}",
    )


def _probe(srv: Server, i: int = 0) -> list[float]:
    """The pmf for a fixed context (a deferred rank that is never activated, so nothing learns)."""
    r = _post(srv, "/rank", rank_body(10_000 + i, deferActivation=True))
    assert r.status_code == 201, r.text
    return [p for _, p in sorted((x["id"], x["probability"]) for x in r.json()["ranking"])]


@pytest.mark.parametrize("kind", ["embedded", "nats"])
def test_configuration_model_and_log_changes_work_through_any_ranker(tmp_path, kind, request):
    """Personalizer's admin calls on `--workers 2`: checked on the ranker (the single process's 400s and
    401), applied by the learner in stream order, answered once applied, served by every ranker (with
    NATS the uploaded model travels through its object store)."""
    state = tmp_path / "s"
    extra = ("--stream", request.getfixturevalue("nats_url")) if kind == "nats" else ()
    with Server(state, "--workers", "2", "--model-update-seconds", "0", *extra, seed=4) as srv:
        c = srv.client
        assert httpx.put(srv.url + "/personalizer/v1.0/configurations/service", json={}).status_code == 401
        bad = c.put("/configurations/service", json={"rewardWaitTime": "bogus"})
        assert bad.status_code == 400 and bad.json()["error"]["message"] == (
            "rewardWaitTime: 'bogus' is not an ISO-8601 duration like 'PT10M' or 'P1DT2H'"
        )
        put = c.put("/configurations/service", json={"rewardWaitTime": "PT1M", "defaultReward": 0.25})
        assert put.status_code == 200 and put.json()["rewardWaitTime"] == "PT1M"  # applied when answered
        version = _status(srv)["workers"]["learner"]["streamLastSeq"]
        _all_rankers_at(srv, version)
        for _ in range(4):  # whichever ranker answers
            got = c.get("/configurations/service").json()
            assert (got["rewardWaitTime"], got["defaultReward"]) == ("PT1M", 0.25)
        # teach it (v1 pays), then export, change the policy (a fresh model), import the export back
        for i in range(60):
            e = _post(srv, "/rank", rank_body(i)).json()
            r = _post(srv, f"/events/{e['eventId']}/reward", {"value": float(e["rewardActionId"] == "v1")})
            assert r.status_code == 204
        s = _wait(srv, lambda s: s["workers"].get("learner", {}).get("eventsLearned") == 60, "60 learned")
        _all_rankers_at(srv, s["workers"]["learner"]["streamSeq"])
        learned = _probe(srv)
        blob = c.get("/model").content
        args = "--cb_explore_adf --epsilon 0.2 -q cA --power_t 0"
        refused = c.put("/configurations/policy", json={"name": "p", "arguments": "--cb_explore_adf -d /etc/passwd"})
        assert refused.status_code == 400
        put = c.put("/configurations/policy", json={"name": "p", "arguments": args})
        assert put.status_code == 200 and put.json() == {"name": "p", "arguments": args}
        _all_rankers_at(srv, _status(srv)["journalSeq"])
        assert c.get("/configurations/policy").json() == {"name": "p", "arguments": args}
        assert c.get("/model/properties").json()["eventsLearned"] == 0
        assert _probe(srv, 1) != learned
        tampered = bytearray(blob)
        tampered[-10] ^= 0xFF
        bad = c.put("/model", content=bytes(tampered))
        assert bad.status_code == 400 and "checksum" in bad.json()["error"]["message"]
        assert c.put("/model", content=blob).status_code == 204
        assert _probe(srv) == pytest.approx(learned, abs=1e-7)  # the answering... and every ranker:
        _all_rankers_at(srv, _status(srv)["journalSeq"])
        assert [_probe(srv) for _ in range(4)] == [pytest.approx(learned, abs=1e-7)] * 4
        assert c.get("/model/properties").json()["eventsLearned"] == 60
        assert c.delete("/logs").status_code == 204
        evaluation = c.post("/evaluations", json={"name": "e"})  # a ranker reads the learner's log
        assert evaluation.status_code == 201 and evaluation.json()["status"] == "pending", evaluation.text
        assert c.delete("/model").status_code == 204
        assert c.get("/model/properties").json()["eventsLearned"] == 0
        reset = c.delete("/configurations/policy")
        assert reset.status_code == 200 and reset.json()["name"] == "artbandit"
        # well-formed rewards are acknowledged; an unknown event's is dropped by the learner
        assert c.post("/events/e1/reward", json={"value": 7}).status_code == 400  # out of range
        assert c.post("/events/e1/reward", json={"value": 1}).status_code == 204
        s = _wait(srv, lambda s: s["workers"]["learner"]["dropped"] == 1, "the learner to drop it")
        assert s["workers"]["learner"]["recentDrops"][0].endswith(":reward:e1")  # every change was applied
        text = httpx.get(srv.url + "/metrics", headers=srv.client.headers).text
        assert "artbandit_learner_lag" in text and "artbandit_snapshot_version" in text
        for worker in ("ranker-0", "ranker-1", "learner"):  # each worker's snapshot, whichever ranker answers
            assert f'artbandit_worker_snapshot_version{{worker="{worker}"}} ' in text
    assert srv.proc.returncode == 0
    # the learner's state folder kept every change (a single process on it serves them)
    with DecisionService(str(state)) as svc:
        assert svc.config.reward_wait_s == 60.0 and svc.config.default_reward == 0.25
        assert svc.arguments == "--cb_explore_adf --select" and svc.policy.n_learned == 0
        assert svc.journal.properties()["ranks"] < 60  # DELETE /logs forgot the closed events


def test_the_nats_server_killed_and_restarted_mid_traffic_loses_and_repeats_nothing(tmp_path, nats_server):
    """The stream server itself dies (SIGKILL) during traffic: requests meanwhile are answered 503, never
    2xx; once it is back every acknowledged rank and reward is learned exactly once."""
    state = tmp_path / "state"
    srv = Server(state, "--workers", "2", "--model-update-seconds", "0", "--stream", nats_server.url, seed=6).start()
    srv.client.timeout = httpx.Timeout(60.0)
    ranked, rewards, refused = [], Counter(), []
    try:
        for i in range(90):
            if i == 40:
                nats_server.stop(signal.SIGKILL)
                for j in range(2):  # no stream: not stored, so not acknowledged
                    r = _post(srv, "/rank", rank_body(900 + j, eventId=f"down{j}"))
                    assert r.status_code == 503 and "retry" in r.json()["error"]["message"], r.text
                    refused.append(f"down{j}")
                r = _post(srv, f"/events/e{i - 1}/reward", {"value": 1.0})
                assert r.status_code == 503, r.text
                nats_server.start()
            r = _post(srv, "/rank", rank_body(i, eventId=f"e{i}"))
            for _ in range(100):  # while the rankers reconnect: 503, retried
                if r.status_code != 503:
                    break
                time.sleep(0.1)
                r = _post(srv, "/rank", rank_body(i, eventId=f"e{i}"))
            assert r.status_code == 201, r.text
            ranked.append(f"e{i}")
            if i % 3:
                value = float(r.json()["rewardActionId"] == "v1")
                r = _post(srv, f"/events/e{i}/reward", {"value": value})
                assert r.status_code == 204, r.text
                rewards[f"e{i}"] += 1
        s = _wait(
            srv,
            lambda s: s["learnerLag"] == 0 and s["workers"]["learner"]["eventsLearned"] == sum(rewards.values()),
            "the learner to catch up",
        )
        assert s["workers"]["learner"]["dropped"] == 0, s["workers"]["learner"]["recentDrops"]
    finally:
        assert srv.stop(timeout=120) == 0
    counts = _journal_counts(state)
    assert [e for e in ranked if counts["rank"][e] != 1] == []
    assert dict(counts["reward"]) == dict(rewards)


def test_the_learners_memory_budget_is_a_503_on_the_rankers(tmp_path):
    """--max-pending-mb bounds the learner's open events: rankers refuse ranks (503) once the learner
    reports its budget full, and rewards that close events free it again."""
    with Server(tmp_path / "s", "--workers", "2", "--max-pending-mb", "16", "--model-update-seconds", "0") as srv:
        c, codes, events = srv.client, [], []
        for i in range(80):  # 900 KB contexts: within the 1 MiB body limit
            body = {"contextFeatures": [big_context(i, 900)], "actions": [{"id": "a", "features": [{"f": 1}]}]}
            r = c.post("/rank", json=body)
            codes.append(r.status_code)
            if r.status_code == 201:
                events.append(r.json()["eventId"])
            else:
                assert r.status_code == 503 and "memory budget" in r.json()["error"]["message"], r.text
                if len(codes) - codes.index(503) >= 5:
                    break
            time.sleep(0.02)
        assert codes[-5:] == [503] * 5, codes
        s = _wait(srv, lambda s: s["eventsPending"] == len(events), "the learner's status to show every event")
        assert s["pendingBytes"] >= 16 << 20
        for event_id in events:
            assert c.post(f"/events/{event_id}/reward", json={"value": 1}).status_code == 204
        _wait(srv, lambda s: s["pendingBytes"] < 16 << 20, "the budget to free")
        for _ in range(40):  # the ranker that answers has read the learner's figure
            r = c.post("/rank", json={"contextFeatures": [big_context(99, 900)], "actions": [{"id": "a"}]})
            if r.status_code == 201:
                break
            time.sleep(0.05)
        assert r.status_code == 201, r.text


def test_metrics_count_the_whole_service_whichever_ranker_answers(tmp_path):
    """A Prometheus scrape reaches one ranker: its event counters must be the service's (what every
    ranker acknowledged, as the learner applied it), not that ranker's own share of the traffic."""
    with Server(tmp_path / "s", "--workers", "2", "--model-update-seconds", "0") as srv:
        n = 40
        for i in range(n):  # a new connection per request: the kernel spreads them over both rankers
            with httpx.Client(base_url=srv.client.base_url, headers=srv.client.headers, timeout=60.0) as c:
                event_id = c.post("/rank", json=rank_body(i)).json()["eventId"]
                assert c.post(f"/events/{event_id}/reward", json={"value": 1}).status_code == 204
        s = _wait(srv, lambda s: s["learnerLag"] == 0 and s["rewards"] == n, "the learner to apply everything")
        own = {name: w["ranks"] for name, w in s["workers"].items() if name.startswith("ranker")}
        assert len(own) == 2 and sum(own.values()) <= n  # each ranker acknowledged a share
        for _ in range(6):  # whichever ranker answers the scrape
            with httpx.Client(headers=srv.client.headers, timeout=60.0) as c:
                text = c.get(srv.url + "/metrics").text
            assert f"artbandit_ranks_total {n}" in text and f"artbandit_rewards_total {n}" in text, text


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_a_change_without_a_learner_is_a_503_and_is_applied_when_the_learner_runs(tmp_path, monkeypatch):
    """No learner applies the change in time: 503 (not a 2xx), the change stays in the stream, and the
    learner that starts later applies it; the ranker then serves it."""
    from fastapi.testclient import TestClient

    from artbandit.serve import deps
    from artbandit.serve.app import create_app
    from bandit.service.stream.learner import Learner
    from bandit.service.stream.ranker import Ranker

    monkeypatch.setattr(deps, "CHANGE_WAIT_S", 0.3)
    svc = DecisionService(str(tmp_path / "state"), seed=0, autocommit=False)
    stream = EmbeddedStream(tmp_path / "state")
    learner = Learner(svc, stream, model_update_s=0)
    learner.publish(force=True)  # the first snapshot; then the learner stops (is not running)
    ranker = Ranker(stream, name="ranker-0", model_update_s=0)
    with TestClient(create_app(ranker, key=None, dashboard=False)) as client:
        r = client.put("/personalizer/v1.0/configurations/service", json={"rewardWaitTime": "PT3M"})
        assert r.status_code == 503 and "has not applied it" in r.json()["error"]["message"], r.text
        assert [orjson.loads(b)["k"] for _, b in stream.read(0)] == ["change"]  # kept in the stream
        while learner.step():  # the learner runs: it applies the change and publishes
            learner.publish()
        assert svc.config.reward_wait_s == 180.0
        ranker.reload()
        assert client.get("/personalizer/v1.0/configurations/service").json()["rewardWaitTime"] == "PT3M"
    svc.close()
    stream.close()


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


def _rank_message(i: int) -> bytes:
    body = {"c": {"user": {"n": i % 5}}, "as": ACTIONS, "pmf": [0.25] * 4, "ch": i % 4, "p": 0.25}
    body.update({"dl": 1e12, "act": True, "m": "Online", "g": None, "v": ""})
    return orjson.dumps({"k": "rank", "id": f"e{i}", "t": 1000.0 + i, "b": body})


@pytest.mark.parametrize("where", ["checkpoint", "position"])
def test_a_learner_killed_inside_a_change_applies_it_again_to_the_same_model(tmp_path, monkeypatch, where):
    """A change is checkpointed before its stream position is committed: a learner killed between the
    two applies it again on restart, and the model equals one uninterrupted pass. A refused change
    changes nothing and its message reaches the ranker through the snapshot."""
    from bandit.service.stream.learner import Learner

    stream = EmbeddedStream(tmp_path / "stream")
    reward = lambda i: orjson.dumps({"k": "reward", "id": f"e{i}", "t": 1000.5 + i, "b": {"v": float(i % 4 == 1)}})  # noqa: E731
    stream.append([m for i in range(20) for m in (_rank_message(i), reward(i))])
    args = "--cb_explore_adf --epsilon 0.1 -q cA"
    change = {"k": "change", "id": "", "t": 1030.0, "b": {"op": "policy", "name": "p", "arguments": args}}
    change_seq = stream.append([orjson.dumps(change)])
    bad = {"k": "change", "id": "", "t": 1030.5, "b": {"op": "config", "body": {"rewardWaitTime": "bogus"}}}
    bad_seq = stream.append([orjson.dumps(bad)])
    stream.append([m for i in range(20, 40) for m in (_rank_message(i), reward(i))])

    def learn(folder) -> tuple[DecisionService, Learner]:
        svc = DecisionService(str(folder), seed=1, autocommit=False)
        learner = Learner(svc, stream, batch=9)
        while learner.position < stream.last_seq():
            learner.step()
        return svc, learner

    a, first = learn(tmp_path / "a")
    whole = _pmfs(a.policy)
    assert (a.arguments, a.policy.n_learned, first.policy_name) == (args, 20, "p")  # 20 learned after the change
    assert first.changes == {str(change_seq): None, str(bad_seq): first.changes[str(bad_seq)]}
    assert "not an ISO-8601 duration" in first.changes[str(bad_seq)] and a.config.reward_wait_s == 600.0
    a.close()

    b_svc = DecisionService(str(tmp_path / "b"), seed=1, autocommit=False)
    real_write = b_svc.journal.write

    def killed(records, *, stream_seq=None, **outcomes):
        if stream_seq == change_seq and not records:
            raise SystemExit("killed between the change's checkpoint and its position")
        return real_write(records, stream_seq=stream_seq, **outcomes)

    def killed_publish(token):
        if learner.position >= change_seq - 1 and b_svc.arguments == args:
            raise SystemExit("killed before the change's checkpoint was published")
        return real_publish(token)

    real_publish = b_svc.publish_checkpoint
    if where == "position":
        monkeypatch.setattr(b_svc.journal, "write", killed)
    else:
        monkeypatch.setattr(b_svc, "publish_checkpoint", killed_publish)
    learner = Learner(b_svc, stream, batch=9)
    with pytest.raises(SystemExit):
        while True:
            learner.step()
    assert b_svc.journal.stream_seq() < change_seq
    b_svc.log.close()
    b_svc.journal.close()
    b_svc.state.close()
    b, second = learn(tmp_path / "b")
    assert (b.arguments, b.policy.n_learned) == (args, 20)
    assert _pmfs(b.policy) == pytest.approx(whole, abs=1e-12)
    b.close()
    stream.close()


def test_a_refused_change_stays_refused_when_the_learner_dies_before_publishing_it(tmp_path):
    """The learner commits a change's stream position before it publishes the snapshot naming the
    outcome, and a restarted learner does not apply the change again: the outcome must come from its
    journal, or the ranker waiting for the change would read the next snapshot as "applied"."""
    from bandit.service.stream.learner import Learner

    stream = EmbeddedStream(tmp_path / "stream")
    stream.append([_rank_message(i) for i in range(3)])
    bad = {"k": "change", "id": "", "t": 1030.5, "b": {"op": "config", "body": {"rewardWaitTime": "bogus"}}}
    bad_seq = stream.append([orjson.dumps(bad)])
    good = {"k": "change", "id": "", "t": 1031.0, "b": {"op": "config", "body": {"rewardWaitTime": "PT5M"}}}
    good_seq = stream.append([orjson.dumps(good)])
    svc = DecisionService(str(tmp_path / "state"), seed=1, autocommit=False)
    learner = Learner(svc, stream)
    while learner.position < stream.last_seq():
        learner.step()  # applies and commits both changes; killed before `publish`
    assert stream.snapshot_meta() is None
    svc.close()

    svc = DecisionService(str(tmp_path / "state"), seed=1, autocommit=False)
    again = Learner(svc, stream)
    assert again.position == good_seq and again.step() == 0  # nothing is applied twice
    again.publish(force=True)
    changes = stream.snapshot_meta()["changes"]
    assert "not an ISO-8601 duration" in changes[str(bad_seq)] and changes[str(good_seq)] is None
    assert svc.config.reward_wait_s == 300.0
    svc.close()
    stream.close()


def test_simulate_and_the_service_client_learn_through_two_workers(tmp_path):
    """`artbandit simulate --service` and ServiceClient (the single process's test in routes/test_events.py)
    against rankers: every impression is learned once by the learner, and the model beats uniform."""
    n = 1000
    uniform = run(UniformPolicy(seed=0), n, seed=11)
    with Server(tmp_path / "state", "--workers", "2", "--model-update-seconds", "0", seed=5) as srv:
        with ServiceClient(srv.url, KEY) as client:
            ctr = run(client, n, seed=11)
        simulated = subprocess.run(
            [sys.executable, "-m", "artbandit", "simulate", "--service", srv.url, "-n", "300", "--json", "-q"],
            env={**os.environ, "ARTBANDIT_API_KEY": KEY},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert simulated.returncode == 0, simulated.stderr
        assert 0.0 < json.loads(simulated.stdout)["ctr"] < 1.0
        s = _wait(srv, lambda s: s["learnerLag"] == 0 and s["workers"]["learner"]["eventsPending"] == 0, "learned")
        learner = s["workers"]["learner"]
        assert (learner["eventsLearned"], learner["dropped"]) == (n + 300, 0)  # every impression, once
    counts = _journal_counts(tmp_path / "state")
    assert len(counts["rank"]) == n + 300 and set(counts["rank"].values()) == {1}
    print(f"over HTTP with 2 workers: CTR {ctr:.3f}, uniform {uniform:.3f}")
    assert ctr > uniform + 0.1, (ctr, uniform)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_the_personalizer_sdk_works_against_one_process_and_two_workers(tmp_path, workers):
    """Microsoft's own Python SDK (azure-ai-personalizer) drives every call it has that artbandit serves."""
    sdk = pytest.importorskip("azure.ai.personalizer")
    from azure.core.credentials import AzureKeyCredential
    from azure.core.exceptions import HttpResponseError

    with Server(tmp_path / "s", "--workers", workers, "--model-update-seconds", "0", seed=2) as srv:
        key = AzureKeyCredential(KEY)
        client, admin = sdk.PersonalizerClient(srv.url, key), sdk.PersonalizerAdministrationClient(srv.url, key)
        with pytest.raises(HttpResponseError) as denied:
            sdk.PersonalizerClient(srv.url, AzureKeyCredential("wrong-key-0123456789")).rank(rank_body(0))
        assert denied.value.status_code == 401
        for i in range(30):  # v2 pays
            r = client.rank(rank_body(i, eventId=f"sdk-{i}"))
            assert r["eventId"] == f"sdk-{i}" and {a["id"] for a in r["ranking"]} == {"v0", "v1", "v2", "v3"}
            client.reward(r["eventId"], {"value": float(r["rewardActionId"] == "v2")})
        deferred = client.rank(rank_body(30, deferActivation=True))
        client.activate(deferred["eventId"])
        client.reward(deferred["eventId"], {"value": 1.0})
        slots = [{"id": "hero", "baselineAction": "v0"}, {"id": "row", "baselineAction": "v1"}]
        multi = client.rank_multi_slot({**rank_body(31), "slots": slots})
        assert [s["id"] for s in multi["slots"]] == ["hero", "row"]
        client.reward_multi_slot(multi["eventId"], {"reward": [{"slotId": "hero", "value": 1.0}]})
        with pytest.raises(HttpResponseError) as bad:
            client.reward("sdk-0", {"value": 7.0})
        assert bad.value.status_code == 400
        config = {**admin.get_service_configuration(), "rewardWaitTime": "PT2M", "explorationPercentage": 0.1}
        assert admin.update_service_configuration(config) == config
        assert admin.get_service_configuration() == config  # read-your-write on the ranker that answered
        if workers == "2":  # the learner has everything (33 events learned: 31 single, hero; row waits)
            _wait(srv, lambda s: s["workers"]["learner"]["eventsLearned"] == 32 and s["learnerLag"] == 0, "learned")
        assert admin.get_model_properties()["eventsLearned"] == 32
        model = b"".join(admin.export_model())
        assert model.startswith(b"ARTBANDIT-MODEL/2\n")
        policy = {"name": "sdk", "arguments": "--cb_explore_adf --epsilon 0.2"}
        assert admin.update_policy(policy) == policy == admin.get_policy()
        assert admin.get_model_properties()["eventsLearned"] == 0
        admin.import_model(io.BytesIO(model))
        assert admin.get_model_properties()["eventsLearned"] == 32
        assert admin.get_log_properties()["ranks"] == 33
        admin.delete_logs()
        admin.reset_model()
        assert admin.get_model_properties()["eventsLearned"] == 0
        assert admin.reset_policy() == {"name": "artbandit", "arguments": "--cb_explore_adf --select"}


def test_catalog_works_through_the_rankers_and_a_bad_one_is_a_one_line_usage_error(tmp_path):
    """--catalog with workers: every ranker reads the catalogue, so a rank may name variants by id
    alone (the rank message carries their features to the learner) and the dashboard shows the
    titles; a folder that is no catalogue is refused before anything starts."""
    from click.testing import CliRunner

    from artbandit.cli import cli
    from tests.dashboard_helpers import make_index, rank_ids

    result = CliRunner().invoke(
        cli, ["serve", "--state", str(tmp_path / "s"), "--no-auth", "--catalog", str(tmp_path), "--workers", "2"]
    )
    assert result.exit_code != 0 and "--catalog:" in str(result.exception or result.output)
    assert not (tmp_path / "s").exists()

    cat = make_index(tmp_path / "catalogue")
    with Server(tmp_path / "state", "--workers", "2", "--catalog", str(cat), "--model-update-seconds", "0") as srv:
        for i in range(20):
            with httpx.Client(base_url=srv.client.base_url, headers=srv.client.headers, timeout=60.0) as c:
                event_id = rank_ids(c, ["a0", "a1", "a2", "a3"])["eventId"]
                assert c.post(f"/events/{event_id}/reward", json={"value": 1}).status_code == 204
        _wait(srv, lambda s: s["learnerLag"] == 0 and s["rewards"] == 20, "the learner to apply everything")
        db = sqlite3.connect(f"file:{tmp_path / 'state' / 'journal.sqlite'}?mode=ro", uri=True)
        sets = [orjson.loads(body) for (body,) in db.execute("SELECT body FROM records WHERE kind='set'")]
        db.close()
        features = {a["id"]: a.get("features") for actions in sets for a in actions}
        assert set(features) == {"a0", "a1", "a2", "a3"} and all(features.values()), sets  # filled in
        with httpx.Client(base_url=srv.url, timeout=10.0) as c:
            c.post("/dashboard/login", data={"key": KEY})
            titles = c.get("/dashboard/api/titles").json()
        assert titles["catalogue"] is True and "film-a" in {t["id"] for t in titles["titles"]}


def test_serve_runs_one_ranker_per_cpu_by_default_and_workers_1_is_the_single_process(tmp_path):
    from click.testing import CliRunner

    from artbandit.cli import cli
    from artbandit.cli.serve import cpus_available

    expected = [f"ranker-{i}" for i in range(cpus_available())]
    with Server(tmp_path / "default", topology_default=True) as srv:
        # the first ranker answers before the others have started: wait for their statuses
        s = _wait(
            srv, lambda s: sorted(n for n in s.get("workers", {}) if n.startswith("ranker")) == expected, "rankers"
        )
        rankers = sorted(name for name in s["workers"] if name.startswith("ranker"))
        assert s["role"] == "ranker" and "learner" in s["workers"]
        assert rankers == expected
    with Server(tmp_path / "single", "--workers", "1") as srv:
        s = _status(srv)
        assert "role" not in s and "workers" not in s  # the single process: no stream, no learner
    for bad in ("0", "257", "many"):
        result = CliRunner().invoke(cli, ["serve", "--state", str(tmp_path / "x"), "--no-auth", "--workers", bad])
        assert result.exit_code == 2 and "--workers" in result.output, result.output
    assert cpus_available() == len(os.sched_getaffinity(0))


def test_request_metrics_of_every_ranker_whichever_ranker_a_scrape_reaches(tmp_path):
    """Prometheus counters must only grow: a scrape answered by either ranker lists every ranker's
    request counts, labelled by worker, and their sum is every request sent."""
    import re

    with Server(tmp_path / "s", "--workers", "2", "--model-update-seconds", "0") as srv:
        n = 30
        for i in range(n):  # a new connection per request: both rankers answer some
            with httpx.Client(base_url=srv.client.base_url, headers=srv.client.headers, timeout=60.0) as c:
                assert c.post("/rank", json=rank_body(i)).status_code == 201
        pattern = re.compile(
            r'^artbandit_requests_total\{route="POST /personalizer/v1.0/rank",status="201",worker="(ranker-\d)"\} (\d+)$',
            re.M,
        )
        seen: list[dict] = []
        for _ in range(100):  # each ranker publishes its counts every second; a scrape per connection
            with httpx.Client(headers=srv.client.headers, timeout=60.0) as c:
                seen.append(dict(pattern.findall(c.get(srv.url + "/metrics").text)))
            if len(seen) >= 8 and all(sum(map(int, f.values())) == n for f in seen[-8:]):
                break
            time.sleep(0.1)
        assert all(sorted(f) == ["ranker-0", "ranker-1"] for f in seen[-8:]), seen[-8:]
        assert [sum(map(int, f.values())) for f in seen[-8:]] == [n] * 8, seen[-8:]


def test_one_state_folder_moves_between_the_topologies_without_losing_or_repeating_an_event(tmp_path):
    """An existing deployment upgrades to the rankers default, goes back to `--workers 1`, and forward
    again, on the same state folder: an event ranked under one topology is rewarded under the next,
    every reward is learned once, and the model carries over each time."""
    state = tmp_path / "state"

    def learned(srv: Server) -> int:
        s = _wait(srv, lambda s: s.get("learnerLag", 0) == 0, "the learner to catch up")
        return s["workers"]["learner"]["eventsLearned"] if "workers" in s else s["eventsLearned"]

    with Server(state, "--workers", "1") as srv:  # the former default
        for i in range(10):
            assert srv.client.post("/rank", json=rank_body(i, eventId=f"a{i}")).status_code == 201
        for i in range(5):
            assert srv.client.post(f"/events/a{i}/reward", json={"value": 1.0}).status_code == 204
        assert learned(srv) == 5
    with Server(state, "--model-update-seconds", "0", topology_default=True) as srv:  # rankers + learner
        assert learned(srv) == 5
        for i in range(5, 10):  # ranked by the single process, rewarded through a ranker
            assert srv.client.post(f"/events/a{i}/reward", json={"value": 0.0}).status_code == 204
        for i in range(10):
            assert srv.client.post("/rank", json=rank_body(i, eventId=f"b{i}")).status_code == 201
        _wait(srv, lambda s: s["workers"]["learner"]["eventsLearned"] == 10, "the learner to learn a5-a9")
    with Server(state, "--workers", "1") as srv:  # and back: b0-b9 are still open, a0-a9 closed
        assert learned(srv) == 10
        for i in range(10):
            assert srv.client.post(f"/events/b{i}/reward", json={"value": 1.0}).status_code == 204
        assert srv.client.post("/events/a0/reward", json={"value": 1.0}).status_code == 409  # once only
        assert learned(srv) == 20
    counts = _journal_counts(state)
    assert set(counts["reward"].values()) == {1} and len(counts["reward"]) == 20


def test_a_supervisor_killed_with_sigkill_takes_its_workers_with_it_and_serve_starts_again(tmp_path):
    """A supervisor SIGKILLed (or killed by the OOM killer) cannot stop its children; left running they
    would keep the port and the state folder's lock and a new `artbandit serve` could not start. They
    stop on their own (gracefully: what they acknowledged is kept), and the next start has it all."""
    state = tmp_path / "state"
    srv = Server(state, "--model-update-seconds", "0", topology_default=True).start()
    try:
        s = _wait(srv, lambda s: len(s.get("workers", {})) >= 3, "every worker's status")
        children = [w["pid"] for w in s["workers"].values()]
        ranked = [srv.client.post("/rank", json=rank_body(i, eventId=f"k{i}")).status_code for i in range(10)]
        assert ranked == [201] * 10
        srv.proc.kill()
        srv.proc.wait(30)
        for _ in range(600):
            alive = [pid for pid in children if pid_alive(pid)]
            if not alive:
                break
            time.sleep(0.05)
        assert alive == [], "workers outlived their supervisor"
    finally:
        for pid in children:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
    with Server(state, "--model-update-seconds", "0", topology_default=True) as again:  # port, lock: free
        for i in range(10):
            assert again.client.post(f"/events/k{i}/reward", json={"value": 1.0}).status_code == 204
        _wait(again, lambda s: s["workers"]["learner"]["eventsLearned"] == 10, "the ten acknowledged ranks learned")


def test_a_full_disk_is_a_503_on_the_rankers_and_nothing_acknowledged_is_lost(tmp_path):
    """The embedded stream on a real full disk (a 6 MB tmpfs): ranks are 503 'disk full', never 201
    for what is not stored; with room again they are 201, and after a restart every acknowledged rank
    is rewarded and learned once."""
    import subprocess

    from tests.serve_helpers import fill_disk, small_disk

    disk = small_disk(tmp_path / "disk", "6m")
    try:
        state = disk / "state"
        acked = []
        with Server(state, "--durable", "--model-update-seconds", "0", topology_default=True) as srv:
            for i in range(20):
                r = srv.client.post("/rank", json=rank_body(i))
                assert r.status_code == 201, r.text
                acked.append(r.json()["eventId"])
            fill_disk(disk)
            for i in range(20, 40):
                r = srv.client.post("/rank", json=rank_body(i))
                if r.status_code == 201:  # what still fitted (stored: checked after the restart)
                    acked.append(r.json()["eventId"])
                    fill_disk(disk)  # the service may have freed space since (an old snapshot deleted)
                    continue
                assert r.status_code == 503 and "disk full" in r.json()["error"]["message"], r.text
            assert r.status_code == 503
            (disk / "filler").unlink()
            for i in range(40, 45):
                r = _post(srv, "/rank", rank_body(i))
                for _ in range(100):  # the learner, if the full disk stopped it, is started again
                    if r.status_code != 503:
                        break
                    time.sleep(0.1)
                    r = _post(srv, "/rank", rank_body(i))
                assert r.status_code == 201, r.text
                acked.append(r.json()["eventId"])
            # a learner that met the full disk stopped (its batch is in the stream) and was started
            # again: it has caught up when its lag is 0 and it has learned nothing twice
            _wait(srv, lambda s: s["learnerLag"] == 0 and s["workers"]["learner"]["dropped"] == 0, "the learner")
            code = srv.stop(timeout=120)
            assert code == 0, srv.stderr
        with Server(state, "--model-update-seconds", "0", topology_default=True) as again:
            assert {again.client.post(f"/events/{e}/reward", json={"value": 1}).status_code for e in acked} == {204}
            s = _wait(
                again, lambda s: s["workers"]["learner"]["eventsLearned"] == len(acked), "every acknowledged rank"
            )
            assert s["workers"]["learner"]["dropped"] == 0
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_a_worker_that_keeps_dying_is_started_again_ever_more_slowly():
    """A crash loop (a full disk, a damaged state folder) must not restart a worker 20 times a second:
    at once the first time, then 0.5, 1, 2 ... 30 s while it dies soon after each start; after a
    quiet run, at once again."""
    from artbandit.serve.workers import RestartPacing

    pacing, t, delays = RestartPacing(), 0.0, []
    pacing.start(t)
    for _ in range(9):
        t += 1.0  # dies a second after each start
        delays.append(pacing.delay(t))
        t += delays[-1]
        pacing.start(t)
    assert delays == [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    t += RestartPacing.QUIET_S + 1  # then runs quietly for a while before dying
    assert pacing.delay(t) == 0.0


def test_serve_on_port_0_says_the_port_it_listens_on(tmp_path):
    env = {**os.environ, "ARTBANDIT_API_KEY": KEY}
    proc = subprocess.Popen(
        [sys.executable, "-m", "artbandit", "serve", "--state", str(tmp_path / "s"), "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        url = line.split("listening on ", 1)[1].split("/personalizer", 1)[0]
        assert not url.endswith(":0"), line
        assert httpx.get(url + "/status", timeout=10.0).json()["status"] == "ok"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0


def _fresh_body(i: int) -> dict:
    """A rank request whose actions are new at every request (a news feed's), 6 of them."""
    body = rank_body(i)
    body["actions"] = [
        {"id": f"n{i}.{k}", "features": [{"tone": ((i * 7 + k * 3) % 11) / 10, "long": float(k % 2)}]} for k in range(6)
    ]
    return body


def test_actions_new_at_every_request_bring_the_ridge_member_into_the_served_model(tmp_path):
    """`--workers 2`: the learner's default policy sees only new actions, so its ridge member joins
    the mixture (after 32 rewards); the model every ranker serves carries it (its `ridge.npz` goes
    through the stream's snapshots and the export), and `/status` says so."""
    with Server(tmp_path / "s", "--workers", "2", "--model-update-seconds", "0") as srv:
        for i in range(60):
            e = _post(srv, "/rank", _fresh_body(i)).json()
            r = _post(srv, f"/events/{e['eventId']}/reward", {"value": float(e["rewardActionId"].endswith(".1"))})
            assert r.status_code == 204
        s = _wait(srv, lambda s: s["workers"].get("learner", {}).get("eventsLearned") == 60, "60 learned")
        s = _all_rankers_at(srv, s["workers"]["learner"]["streamSeq"])
        assert s["mixture"]["ridge"] == "auto" and s["mixture"]["ridgeInMixture"] is True, s.get("mixture")
        served = import_model(srv.client.get("/model").content)
        assert served.ridge_mode == "auto" and served._ridge_on and served.n_learned == 60
        assert served._ridge is not None and served._ridge.updates == 60
        assert _post(srv, "/rank", _fresh_body(1000)).status_code == 201  # a ranker decides with it
