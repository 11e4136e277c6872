"""artbandit.serve.fastlane: POST rank and reward answered from the Gate, past FastAPI's routing, with
the FastAPI route's exact answers (status, headers, body) for good and bad requests alike."""

from __future__ import annotations

import orjson
from fastapi.testclient import TestClient

from artbandit.serve.app import create_app
from bandit.service.decision_service import DecisionService
from tests.artbandit.serve.test_app import BAD_REQUESTS
from tests.serve_helpers import KEY, rank_body

V = "/personalizer/v1.0"


def _requests() -> list[tuple[str, bytes]]:
    """Ranks with fixed event ids (sampling is keyed by seed and event id: the same answers on two
    services), their rewards, and every bad rank/reward request of the app's own test."""
    out = []
    for i in range(6):
        out.append((f"{V}/rank", orjson.dumps(rank_body(i, eventId=f"ev{i}"))))
        if i % 2 == 0:
            out.append((f"{V}/events/ev{i}/reward", orjson.dumps({"value": i / 10})))
    out.append((f"{V}/events/ev0/reward", orjson.dumps({"value": 1})))  # a second reward (earliest: 409)
    out.append((f"{V}/rank", orjson.dumps(rank_body(1, eventId="ev1"))))  # a reused event id: 400
    out.append(("/personalizer/rank?api-version=2023-02-01", orjson.dumps(rank_body(9, eventId="ev9"))))
    out.append((f"{V}/events/ev9/reward?x=1", orjson.dumps({"value": 0.5})))
    for method, path, body, _ in BAD_REQUESTS:
        if method == "POST" and (path == "/rank" or path.endswith("/reward")) and not path.startswith("/multi"):
            raw = body if isinstance(body, bytes) else orjson.dumps(body)
            out.append((V + path.replace("EVENT", "ev2"), raw))
    return out


def _answers(tmp_path, name: str, lane: bool) -> tuple[list, int]:
    """Every request's (status, headers, body) on a fresh service; how many reached FastAPI."""
    svc = DecisionService(str(tmp_path / name), seed=3, autocommit=False)
    gate = create_app(svc, key=KEY.encode(), dashboard=False)
    if not lane:
        gate.lane = None
    fastapi_app, reached = gate.app, [0]

    async def counted(scope, receive, send):
        reached[0] += scope["type"] == "http"
        await fastapi_app(scope, receive, send)

    gate.app = counted
    out = []
    with TestClient(gate) as client:
        for path, raw in _requests():
            r = client.post(path, content=raw, headers={"ocp-apim-subscription-key": KEY})
            out.append((path, r.status_code, sorted(r.headers.items()), r.content))
    return out, reached[0]


def test_the_fast_lane_answers_rank_and_reward_exactly_as_the_fastapi_routes(tmp_path):
    fast, fast_reached = _answers(tmp_path, "fast", lane=True)
    slow, slow_reached = _answers(tmp_path, "slow", lane=False)
    assert fast == slow
    statuses = [status for _, status, _, _ in fast]
    assert statuses.count(201) == 7 and statuses.count(204) == 4  # the ranks and rewards that succeed
    assert {400, 404, 409} <= set(statuses)
    assert fast_reached == 0  # every one of them answered by the lane, none by FastAPI
    assert slow_reached == len(fast)


def test_other_methods_and_paths_still_go_to_fastapi(tmp_path):
    svc = DecisionService(str(tmp_path / "s"), seed=3, autocommit=False)
    gate = create_app(svc, key=KEY.encode(), dashboard=False)
    headers = {"ocp-apim-subscription-key": KEY}
    with TestClient(gate) as client:
        assert client.get(f"{V}/rank", headers=headers).status_code == 405  # FastAPI's answer
        assert client.post(f"{V}/events/a/b/reward", headers=headers, json={"value": 1}).status_code == 404
        assert client.post(f"{V}/rank", json=rank_body(0)).status_code == 401  # the key, before the lane
        assert client.post(f"{V}/rank", content=b"x" * (2 << 20), headers=headers).status_code == 413


def test_an_unexpected_error_on_a_hot_route_is_a_logged_500_as_on_fastapis_routes(tmp_path, caplog):
    svc = DecisionService(str(tmp_path / "s"), seed=3, autocommit=False)
    gate = create_app(svc, key=None, dashboard=False)

    def broken(*a, **k):
        raise RuntimeError("boom")

    svc.rank = broken  # type: ignore[method-assign]
    with TestClient(gate) as client:
        r = client.post(f"{V}/rank", json=rank_body(0))
    assert r.status_code == 500
    assert r.json() == {"error": {"code": "InternalServerError", "message": "internal error (see the server log)"}}
    assert "internal error on POST /personalizer/rank" in caplog.text and "boom" in caplog.text
