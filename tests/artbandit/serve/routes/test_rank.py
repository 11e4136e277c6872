"""POST /rank and /multislot/rank (artbandit.serve.routes.rank) on a real `artbandit serve`: Personalizer's
answers, Apprentice mode, and hostile traffic (issue 27) that must neither poison nor exhaust it."""

from __future__ import annotations

import math

import httpx

from tests.serve_helpers import HOSTILE, Server, big_context, four_actions, rank_body, server_status, train_v2


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


def test_multislot_rank_reward_activate(server):
    body = rank_body(5, n_actions=5)
    body["slots"] = [
        {"id": "hero", "features": [{"size": "large"}], "baselineAction": "v0"},
        {"id": "row1", "features": [{"size": "small"}], "excludedActions": ["v1"], "baselineAction": "v2"},
        {"id": "row2", "features": [{"size": "small"}], "baselineAction": "v3"},
    ]
    body["deferActivation"] = True
    r = server.client.post("/multislot/rank", json=body)
    assert r.status_code == 201
    answer = r.json()
    chosen = [s["rewardActionId"] for s in answer["slots"]]
    assert [s["id"] for s in answer["slots"]] == ["hero", "row1", "row2"]
    assert len(set(chosen)) == 3 and chosen[1] != "v1"
    event = answer["eventId"]
    learned = server_status(server)["learned"]
    assert (
        server.client.post(
            f"/multislot/events/{event}/reward",
            json={"reward": [{"slotId": "hero", "value": 1}, {"slotId": "row2", "value": 0}]},
        ).status_code
        == 204
    )
    assert server_status(server)["learned"] == learned
    assert server.client.post(f"/multislot/events/{event}/activate").status_code == 204
    assert server_status(server)["learned"] == learned + 2
    bad = server.client.post(f"/multislot/events/{event}/reward", json={"reward": [{"slotId": "hero", "value": 1}]})
    assert bad.status_code == 409
    single = server.client.post(f"/events/{event}/reward", json={"value": 1})
    assert single.status_code == 400 and "multi-slot" in single.json()["error"]["message"]
    too_many = rank_body(6, n_actions=2)
    too_many["slots"] = [{"id": s} for s in ("a", "b", "c")]
    assert server.client.post("/multislot/rank", json=too_many).status_code == 400


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
        apprentice = server_status(server)["apprentice"]
        assert apprentice["decisions"] >= 20 and 0.0 <= apprentice["agreement"] <= 1.0
    finally:
        server.client.put("/configurations/service", json=config)


def test_hostile_feature_values_over_http_are_400_and_cannot_poison(tmp_path):
    srv = Server(tmp_path / "state").start()
    try:
        c = srv.client
        for i, v in enumerate(HOSTILE):
            bodies = [
                {"contextFeatures": [{"user": {"x": v}}], "actions": [{"id": "v0", "features": [{"b": 1}]}]},
                {"contextFeatures": [{"user": {"seg": "a"}}], "actions": [{"id": "v0", "features": [{"b": v}]}]},
            ]
            for body in bodies:
                r = c.post("/rank", json=body)
                assert r.status_code == 400, r.text
                assert "within ±1e+10" in r.json()["error"]["message"]

        def rank(context, acts):
            r = c.post(
                "/rank",
                json={
                    "contextFeatures": [context],
                    "actions": [{"id": a["id"], "features": [a["features"]]} for a in acts],
                },
            )
            assert r.status_code == 201, r.text
            return r.json()["eventId"], r.json()["rewardActionId"]

        def reward(event_id, value):
            assert c.post(f"/events/{event_id}/reward", json={"value": value}).status_code == 204

        train_v2(rank, reward)

        def probability() -> float:
            r = c.post(
                "/rank",
                json={
                    "contextFeatures": [{"user": {"seg": "a", "n": 3}}],
                    "actions": [{"id": a["id"], "features": [a["features"]]} for a in four_actions()],
                },
            )
            return {x["id"]: x["probability"] for x in r.json()["ranking"]}["v2"]

        assert probability() > 0.9
        status = httpx.get(srv.url + "/status").json()
        assert status["modelRejections"] == 0 and status["modelError"] is None
        srv.stop()
        srv.start()
        c = srv.client
        assert probability() > 0.9
    finally:
        srv.stop()


def test_a_full_budget_is_a_503_over_http_and_rewards_free_it(tmp_path):
    srv = Server(tmp_path / "state", "--max-pending-mb", "16").start()
    try:
        c = srv.client
        codes, events = [], []
        for i in range(12):  # 900 KB contexts: within the 1 MiB body limit
            r = c.post(
                "/rank",
                json={"contextFeatures": [big_context(i, 900)], "actions": [{"id": "a", "features": [{"f": 1}]}]},
            )
            codes.append(r.status_code)
            if r.status_code == 201:
                events.append(r.json()["eventId"])
            else:
                assert r.status_code == 503 and "memory budget" in r.json()["error"]["message"], r.text
        assert 201 in codes and codes[-1] == 503 and len(events) <= 5, codes
        status = httpx.get(srv.url + "/status").json()
        assert status["pendingBudgetBytes"] == 16 << 20 and status["pendingBytes"] >= 16 << 20
        metrics = httpx.get(srv.url + "/metrics", headers=c.headers).text
        assert "artbandit_pending_bytes " in metrics
        for event_id in events:
            assert c.post(f"/events/{event_id}/reward", json={"value": 1.0}).status_code == 204
        assert httpx.get(srv.url + "/status").json()["pendingBytes"] == 0
        assert (
            c.post(
                "/rank",
                json={"contextFeatures": [big_context(99, 900)], "actions": [{"id": "a", "features": [{"f": 1}]}]},
            ).status_code
            == 201
        )
    finally:
        srv.stop()
