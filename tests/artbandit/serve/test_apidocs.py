"""/docs and /openapi.json (artbandit.serve.apidocs) on a real `artbandit serve`."""

from __future__ import annotations

import httpx


def test_openapi_docs_are_served(server):
    spec = httpx.get(server.url + "/openapi.json").json()
    # versioned paths: what a generated client can call without an api-version parameter
    assert "/personalizer/v1.0/rank" in spec["paths"]
    assert "/personalizer/v1.0/multislot/events/{event_id}/activate" in spec["paths"]
    assert httpx.get(server.url + "/docs").status_code == 200
