"""The application artbandit.serve.app assembles, against a real `artbandit serve` over HTTP: every bad
request to any route is a one-line 4xx in Personalizer's error body and changes nothing."""

from __future__ import annotations

from tests.serve_helpers import rank_body, server_status

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
    (
        "POST",
        "/rank",
        {
            "actions": [{"id": "a"}],
            "contextFeatures": [{"u": {"x": {"y": {"z": {"a": {"b": {"c": {"d": {"e": 1}}}}}}}}}],
        },
        400,
    ),
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
    (
        "POST",
        "/multislot/rank",
        {"actions": [{"id": "a"}, {"id": "b"}], "slots": [{"id": "s", "baselineAction": "x"}]},
        400,
    ),
    (
        "POST",
        "/multislot/rank",
        {
            "actions": [{"id": "a"}, {"id": "b"}],
            "slots": [{"id": "s", "baselineAction": "a"}, {"id": "t", "baselineAction": "a"}],
        },
        400,
    ),
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
    before = server_status(server)
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
    after = server_status(server)
    for key in ("journalSeq", "ranks", "rewards", "learned", "eventsPending", "modelVersion"):
        assert after[key] == before[key], key
    assert server.client.get("/configurations/service").json() == config
    assert server.client.get("/configurations/policy").json() == policy
    assert server.client.post(f"/events/{event}/reward", json={"value": 0.5}).status_code == 204
