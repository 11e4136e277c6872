"""The Gate (artbandit.serve.gate) in front of a real `artbandit serve`: api versions, the key, the body limit."""

from __future__ import annotations

import httpx
import pytest

from tests.serve_helpers import HEADERS, KEY, rank_body


def test_unversioned_paths_need_api_version(server):
    base = server.url + "/personalizer"
    ok = httpx.post(base + "/rank?api-version=2022-09-01-preview", json=rank_body(2), headers=HEADERS)
    assert ok.status_code == 201
    missing = httpx.post(base + "/rank", json=rank_body(2), headers=HEADERS)
    assert missing.status_code == 400 and "api-version" in missing.json()["error"]["message"]


@pytest.mark.parametrize(
    "headers", [{}, {"Ocp-Apim-Subscription-Key": "wrong"}, {"Ocp-Apim-Subscription-Key": KEY[:-1] + "X"}]
)
def test_wrong_or_missing_key_is_401(server, headers):
    r = httpx.post(server.url + "/personalizer/v1.0/rank", json=rank_body(7), headers=headers)
    assert r.status_code == 401
    assert set(r.json()["error"]) == {"code", "message"}
    assert httpx.get(server.url + "/metrics", headers=headers).status_code == 401


def test_oversize_body_is_413(server):
    big = rank_body(9)
    big["contextFeatures"] = [{"blob": {"x": "a" * (2 << 20)}}]
    r = server.client.post("/rank", json=big)
    assert r.status_code == 413
    chunks = (b"[" + b"1," * 60_000 + b"1]" for _ in range(20))  # chunked, no Content-Length
    assert server.client.post("/rank", content=chunks).status_code == 413
    assert server.client.post("/rank", json=rank_body(9)).status_code == 201
