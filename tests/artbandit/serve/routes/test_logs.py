"""/logs (artbandit.serve.routes.logs) on a real `artbandit serve`."""

from __future__ import annotations

from tests.serve_helpers import rank_body


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
