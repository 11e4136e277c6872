"""Rewards and activation (artbandit.serve.routes.events) on a real `artbandit serve`, and a service that
learns over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bandit import UniformPolicy
from bandit.service.client import ServiceClient
from tests.bandit_helpers import run
from tests.serve_helpers import KEY, Server, rank_body, server_status


def test_reward_then_duplicate_then_unknown(server):
    event = server.client.post("/rank", json=rank_body(3)).json()["eventId"]
    learned = server_status(server)["learned"]
    assert server.client.post(f"/events/{event}/reward", json={"value": 1}).status_code == 204
    assert server_status(server)["learned"] == learned + 1
    dup = server.client.post(f"/events/{event}/reward", json={"value": 1})
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "Conflict"
    unknown = server.client.post("/events/nope/reward", json={"value": 1})
    assert unknown.status_code == 404


def test_deferred_event_learns_only_once_activated(server):
    event = server.client.post("/rank", json=rank_body(4, eventId="deferred-1", deferActivation=True)).json()["eventId"]
    assert event == "deferred-1"
    learned = server_status(server)["learned"]
    assert server.client.post(f"/events/{event}/reward", json={"value": 1.0}).status_code == 204
    assert server_status(server)["learned"] == learned  # not activated: not learned
    assert server.client.post(f"/events/{event}/activate").status_code == 204
    assert server_status(server)["learned"] == learned + 1
    assert server.client.post(f"/events/{event}/activate").status_code == 204  # idempotent
    again = server.client.post("/rank", json=rank_body(4, eventId="deferred-1"))
    assert again.status_code == 400 and "already used" in again.json()["error"]["message"]


def test_learns_over_http_clearly_above_uniform(tmp_path):
    n = 1000
    uniform = run(UniformPolicy(seed=0), n, seed=11)
    with Server(tmp_path / "state", seed=5) as srv, ServiceClient(srv.url, KEY) as client:
        ctr = run(client, n, seed=11)
        status = client.status()
        simulated = subprocess.run(
            [sys.executable, "-m", "artbandit", "simulate", "--service", srv.url, "-n", "300", "--json", "-q"],
            env={**os.environ, "ARTBANDIT_API_KEY": KEY},
            capture_output=True,
            text=True,
            timeout=120,
        )
        after = client.status()
    assert simulated.returncode == 0, simulated.stderr
    assert 0.0 < json.loads(simulated.stdout)["ctr"] < 1.0
    assert after["ranks"] == n + 300 and after["eventsPending"] == 0  # every simulated impression went over HTTP
    assert status["learned"] == n and status["eventsPending"] == 0
    assert uniform == pytest.approx(0.225, abs=0.04)
    print(f"over HTTP: CTR {ctr:.3f}, uniform {uniform:.3f}")
    assert ctr > uniform + 0.1, (ctr, uniform)
