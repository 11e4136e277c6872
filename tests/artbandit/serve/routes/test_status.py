"""/metrics (artbandit.serve.routes.status) on a real `artbandit serve`."""

from __future__ import annotations

import httpx

from tests.serve_helpers import HEADERS, rank_body


def test_metrics_are_prometheus_text(server):
    assert server.client.post("/rank", json=rank_body(300)).status_code == 201  # a rank to count, whatever ran before
    text = httpx.get(server.url + "/metrics", headers=HEADERS).text
    assert 'artbandit_requests_total{route="POST /personalizer/v1.0/rank",status="201"}' in text
    assert "artbandit_request_seconds_bucket" in text and "artbandit_events_pending" in text
    assert "artbandit_model_info{version=" in text
