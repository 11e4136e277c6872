"""`artbandit serve` against Personalizer's contract: a real server in a subprocess, over HTTP."""
from __future__ import annotations

import math

import httpx
import pytest

from tests.serve_helpers import HEADERS, KEY, Server, rank_body


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with Server(tmp_path_factory.mktemp("svc") / "state") as srv:
        yield srv


def status(server) -> dict:
    return httpx.get(server.url + "/status").json()


def probe(server, i: int = 0) -> list[float]:
    """The pmf for a fixed context (a deferred rank that is never activated, so nothing learns)."""
    r = server.client.post("/rank", json=rank_body(10_000 + i, deferActivation=True))
    assert r.status_code == 201
    return [p for _, p in sorted((x["id"], x["probability"]) for x in r.json()["ranking"])]


def test_rank_answers_201_with_ranking_and_excluded_actions_at_zero(server):
    r = server.client.post("/rank", json=rank_body(1, excludedActions=["v0", "v2"]))
    assert r.status_code == 201
    body = r.json()
    assert set(body) == {"ranking", "eventId", "rewardActionId"}
    ranking = {x["id"]: x["probability"] for x in body["ranking"]}
    assert set(ranking) == {"v0", "v1", "v2", "v3"}
    assert ranking["v0"] == 0.0 and ranking["v2"] == 0.0
    assert body["rewardActionId"] in ("v1", "v3")
    assert body["ranking"][0]["id"] == body["rewardActionId"]
    assert math.isclose(sum(ranking.values()), 1.0, abs_tol=1e-6)
    assert [x["id"] for x in body["ranking"][-2:]] == ["v0", "v2"]
    assert len(body["eventId"]) == 32


def test_unversioned_paths_need_api_version(server):
    base = server.url + "/personalizer"
    ok = httpx.post(base + "/rank?api-version=2022-09-01-preview", json=rank_body(2), headers=HEADERS)
    assert ok.status_code == 201
    missing = httpx.post(base + "/rank", json=rank_body(2), headers=HEADERS)
    assert missing.status_code == 400 and "api-version" in missing.json()["error"]["message"]


def test_reward_then_duplicate_then_unknown(server):
    event = server.client.post("/rank", json=rank_body(3)).json()["eventId"]
    learned = status(server)["learned"]
    assert server.client.post(f"/events/{event}/reward", json={"value": 1}).status_code == 204
    assert status(server)["learned"] == learned + 1
    dup = server.client.post(f"/events/{event}/reward", json={"value": 1})
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "Conflict"
    unknown = server.client.post("/events/nope/reward", json={"value": 1})
    assert unknown.status_code == 404


def test_deferred_event_learns_only_once_activated(server):
    event = server.client.post("/rank", json=rank_body(4, eventId="deferred-1", deferActivation=True)).json()["eventId"]
    assert event == "deferred-1"
    learned = status(server)["learned"]
    assert server.client.post(f"/events/{event}/reward", json={"value": 1.0}).status_code == 204
    assert status(server)["learned"] == learned  # not activated: not learned
    assert server.client.post(f"/events/{event}/activate").status_code == 204
    assert status(server)["learned"] == learned + 1
    assert server.client.post(f"/events/{event}/activate").status_code == 204  # idempotent
    again = server.client.post("/rank", json=rank_body(4, eventId="deferred-1"))
    assert again.status_code == 400 and "already used" in again.json()["error"]["message"]


def test_multislot_rank_reward_activate(server):
    body = rank_body(5, n_actions=5)
    body["slots"] = [{"id": "hero", "features": [{"size": "large"}], "baselineAction": "v0"},
                     {"id": "row1", "features": [{"size": "small"}], "excludedActions": ["v1"],
                      "baselineAction": "v2"},
                     {"id": "row2", "features": [{"size": "small"}], "baselineAction": "v3"}]
    body["deferActivation"] = True
    r = server.client.post("/multislot/rank", json=body)
    assert r.status_code == 201
    answer = r.json()
    chosen = [s["rewardActionId"] for s in answer["slots"]]
    assert [s["id"] for s in answer["slots"]] == ["hero", "row1", "row2"]
    assert len(set(chosen)) == 3 and chosen[1] != "v1"
    event = answer["eventId"]
    learned = status(server)["learned"]
    assert server.client.post(f"/multislot/events/{event}/reward",
                              json={"reward": [{"slotId": "hero", "value": 1}, {"slotId": "row2", "value": 0}]}
                              ).status_code == 204
    assert status(server)["learned"] == learned
    assert server.client.post(f"/multislot/events/{event}/activate").status_code == 204
    assert status(server)["learned"] == learned + 2
    bad = server.client.post(f"/multislot/events/{event}/reward", json={"reward": [{"slotId": "hero", "value": 1}]})
    assert bad.status_code == 409
    single = server.client.post(f"/events/{event}/reward", json={"value": 1})
    assert single.status_code == 400 and "multi-slot" in single.json()["error"]["message"]
    too_many = rank_body(6, n_actions=2)
    too_many["slots"] = [{"id": s} for s in ("a", "b", "c")]
    assert server.client.post("/multislot/rank", json=too_many).status_code == 400


@pytest.mark.parametrize("headers", [{}, {"Ocp-Apim-Subscription-Key": "wrong"},
                                     {"Ocp-Apim-Subscription-Key": KEY[:-1] + "X"}])
def test_wrong_or_missing_key_is_401(server, headers):
    r = httpx.post(server.url + "/personalizer/v1.0/rank", json=rank_body(7), headers=headers)
    assert r.status_code == 401
    assert set(r.json()["error"]) == {"code", "message"}
    assert httpx.get(server.url + "/metrics", headers=headers).status_code == 401


BAD_REQUESTS = [
    ("POST", "/rank", b"{not json", 400),
    ("POST", "/rank", b"", 400),
    ("POST", "/rank", b"[1,2]", 400),
    ("POST", "/rank", {"actions": []}, 400),
    ("POST", "/rank", {"actions": "v1"}, 400),
    ("POST", "/rank", {"actions": [{"id": "a"}, {"id": "a"}]}, 400),
    ("POST", "/rank", {"actions": [{"id": f"a{i}"} for i in range(51)]}, 400),
    ("POST", "/rank", {"actions": [{"id": 5}]}, 400),
    ("POST", "/rank", {"actions": [{"id": "a", "features": "red"}]}, 400),
    ("POST", "/rank", {"actions": [{"id": "a", "colour": 1}]}, 400),
    ("POST", "/rank", {"actions": [{"id": "a"}], "excludedActions": ["a"]}, 400),
    ("POST", "/rank", {"actions": [{"id": "a"}], "excludedActions": ["zz"]}, 400),
    ("POST", "/rank", {"actions": [{"id": "a"}], "excludeActions": []}, 400),
    ("POST", "/rank", {"actions": [{"id": "a"}], "eventId": "has space"}, 400),
    ("POST", "/rank", {"actions": [{"id": "a"}], "eventId": 7}, 400),
    ("POST", "/rank", {"actions": [{"id": "a"}], "deferActivation": "yes"}, 400),
    ("POST", "/rank", {"actions": [{"id": "a"}], "contextFeatures": [1, 2]}, 400),
    ("POST", "/rank", {"actions": [{"id": "a"}], "contextFeatures": [{"u": {"x": {"y": {"z": {"a": {"b": {"c": {"d": {"e": 1}}}}}}}}}]}, 400),
    ("POST", "/rank", b'{"actions": [{"id": "a", "features": [{"x": NaN}]}]}', 400),
    ("POST", "/rank", b'{"actions": [{"id": "a", "features": [{"x": 1e400}]}]}', 400),
    ("POST", "/events/nope/reward", {"value": 1}, 404),
    ("POST", "/events/nope/activate", None, 404),
    ("POST", "/events/EVENT/reward", {"value": "1"}, 400),
    ("POST", "/events/EVENT/reward", {"value": True}, 400),
    ("POST", "/events/EVENT/reward", {"value": 2.5}, 400),
    ("POST", "/events/EVENT/reward", {"value": -0.5}, 400),
    ("POST", "/events/EVENT/reward", b'{"value": NaN}', 400),
    ("POST", "/events/EVENT/reward", {"value": 1, "extra": 2}, 400),
    ("POST", "/events/EVENT/reward", {}, 400),
    ("POST", "/multislot/rank", {"actions": [{"id": "a"}], "slots": []}, 400),
    ("POST", "/multislot/rank", {"actions": [{"id": "a"}, {"id": "b"}],
                                 "slots": [{"id": "s", "baselineAction": "x"}]}, 400),
    ("POST", "/multislot/rank", {"actions": [{"id": "a"}, {"id": "b"}],
                                 "slots": [{"id": "s", "baselineAction": "a"}, {"id": "t", "baselineAction": "a"}]}, 400),
    ("POST", "/multislot/events/nope/reward", {"reward": [{"slotId": "s", "value": 1}]}, 404),
    ("PUT", "/configurations/service", {"rewardWaitTime": "10 minutes"}, 400),
    ("PUT", "/configurations/service", {"defaultReward": 7}, 400),
    ("PUT", "/configurations/service", {"learningMode": "Offline"}, 400),
    ("PUT", "/configurations/service", {"explorationPercentage": "lots"}, 400),
    ("PUT", "/configurations/service", {"surprise": 1}, 400),
    ("PUT", "/configurations/policy", {"name": "x", "arguments": "--cb_explore_adf -f /tmp/model.vw"}, 400),
    ("PUT", "/configurations/policy", {"arguments": "--cb_explore_adf -d /etc/passwd"}, 400),
    ("PUT", "/configurations/policy", {"arguments": "--cb_explore_adf --readable_model /tmp/x"}, 400),
    ("PUT", "/configurations/policy", {"arguments": "--cb_explore_adf -b 24"}, 400),
    ("PUT", "/configurations/policy", {"arguments": "--cb_explore_adf --epsilon nan"}, 400),
    ("PUT", "/configurations/policy", {"arguments": "--cb_explore_adf --epsilon 0.1 --squarecb"}, 400),
    ("PUT", "/model", b"not a model", 400),
    ("GET", "/nowhere", None, 404),
    ("DELETE", "/rank", None, 405),
]


def test_every_bad_request_is_a_one_line_4xx_and_changes_nothing(server):
    event = server.client.post("/rank", json=rank_body(8)).json()["eventId"]
    before = status(server)
    config = server.client.get("/configurations/service").json()
    policy = server.client.get("/configurations/policy").json()
    for method, path, body, expected in BAD_REQUESTS:
        path = path.replace("EVENT", event)
        kwargs = {"content": body} if isinstance(body, bytes) else ({"json": body} if body is not None else {})
        r = server.client.request(method, path, **kwargs)
        assert r.status_code == expected, (method, path, body, r.status_code, r.text)
        error = r.json()["error"]
        assert set(error) == {"code", "message"}
        assert "\n" not in error["message"] and "Traceback" not in error["message"], error
    after = status(server)
    for key in ("journalSeq", "ranks", "rewards", "learned", "eventsPending", "modelVersion"):
        assert after[key] == before[key], key
    assert server.client.get("/configurations/service").json() == config
    assert server.client.get("/configurations/policy").json() == policy
    assert server.client.post(f"/events/{event}/reward", json={"value": 0.5}).status_code == 204


def test_oversize_body_is_413(server):
    big = rank_body(9)
    big["contextFeatures"] = [{"blob": {"x": "a" * (2 << 20)}}]
    r = server.client.post("/rank", json=big)
    assert r.status_code == 413
    chunks = (b"[" + b"1," * 60_000 + b"1]" for _ in range(20))  # chunked, no Content-Length
    assert server.client.post("/rank", content=chunks).status_code == 413
    assert server.client.post("/rank", json=rank_body(9)).status_code == 201


def test_service_configuration_round_trip(server):
    original = server.client.get("/configurations/service").json()
    assert original["rewardWaitTime"] == "PT10M" and original["learningMode"] == "Online"
    changed = {**original, "rewardWaitTime": "PT1H30M", "defaultReward": 0.25, "rewardAggregation": "average",
               "modelExportFrequency": "PT2M", "logRetentionDays": 30, "explorationPercentage": 0.1}
    put = server.client.put("/configurations/service", json=changed)
    assert put.status_code == 200 and put.json() == changed
    assert server.client.get("/configurations/service").json() == changed
    assert server.client.put("/configurations/service", json=original).json() == original


def test_policy_arguments_and_model_export_import(server):
    events = [server.client.post("/rank", json=rank_body(i)).json() for i in range(40)]
    for i, e in enumerate(events):  # teach it: v1 is good for everyone
        server.client.post(f"/events/{e['eventId']}/reward", json={"value": float(e["rewardActionId"] == "v1")})
    learned_pmf = probe(server)
    blob = server.client.get("/model")
    assert blob.status_code == 200 and blob.content.startswith(b"ARTBANDIT-MODEL/2\n")
    props = server.client.get("/model/properties").json()
    assert props["eventsLearned"] >= 40
    # a new policy resets the model (Personalizer's behaviour): uniform again
    args = "--cb_explore_adf --epsilon 0.2 -q cA --power_t 0"
    put = server.client.put("/configurations/policy", json={"name": "p", "arguments": args})
    assert put.status_code == 200 and put.json()["arguments"] == args
    assert server.client.get("/configurations/policy").json()["arguments"] == args
    assert probe(server) != learned_pmf
    # tampered exports are refused before VW reads them; the real one restores the learned model
    tampered = bytearray(blob.content)
    tampered[-10] ^= 0xFF
    bad = server.client.put("/model", content=bytes(tampered))
    assert bad.status_code == 400 and "checksum" in bad.json()["error"]["message"]
    assert server.client.put("/model", content=blob.content).status_code == 204
    assert probe(server) == pytest.approx(learned_pmf, abs=1e-7)
    assert server.client.get("/model/properties").json()["eventsLearned"] == props["eventsLearned"]


def test_apprentice_serves_the_baseline_and_reports_agreement(server):
    config = server.client.get("/configurations/service").json()
    assert server.client.put("/configurations/service", json={"learningMode": "Apprentice"}).status_code == 200
    try:
        for i in range(20):
            body = rank_body(100 + i, excludedActions=["v0"])
            answer = server.client.post("/rank", json=body).json()
            assert answer["rewardActionId"] == "v1"  # the first non-excluded action
            assert answer["ranking"][0] == {"id": "v1", "probability": 1.0}
            server.client.post(f"/events/{answer['eventId']}/reward", json={"value": 1.0})
        apprentice = status(server)["apprentice"]
        assert apprentice["decisions"] >= 20 and 0.0 <= apprentice["agreement"] <= 1.0
    finally:
        server.client.put("/configurations/service", json=config)


def test_logs_properties_and_delete(server):
    event = server.client.post("/rank", json=rank_body(200)).json()["eventId"]
    closed = server.client.post("/rank", json=rank_body(201)).json()["eventId"]
    server.client.post(f"/events/{closed}/reward", json={"value": 1})
    props = server.client.get("/logs/properties").json()
    assert props["ranks"] > 0 and props["dateRange"]["from"] <= props["dateRange"]["to"]
    assert server.client.delete("/logs").status_code == 204
    after = server.client.get("/logs/properties").json()
    assert after["records"] < props["records"]
    # the open event survives the deletion; the closed one is forgotten
    assert server.client.post(f"/events/{event}/reward", json={"value": 1}).status_code == 204
    assert server.client.post(f"/events/{closed}/reward", json={"value": 1}).status_code in (404, 409)


def test_metrics_are_prometheus_text(server):
    text = httpx.get(server.url + "/metrics", headers=HEADERS).text
    assert 'artbandit_requests_total{route="POST /personalizer/v1.0/rank",status="201"}' in text
    assert "artbandit_request_seconds_bucket" in text and "artbandit_events_pending" in text
    assert "artbandit_model_info{version=" in text


def test_openapi_docs_are_served(server):
    spec = httpx.get(server.url + "/openapi.json").json()
    # versioned paths: what a generated client can call without an api-version parameter
    assert "/personalizer/v1.0/rank" in spec["paths"]
    assert "/personalizer/v1.0/multislot/events/{event_id}/activate" in spec["paths"]
    assert httpx.get(server.url + "/docs").status_code == 200
