"""/configurations/policy and /model (artbandit.serve.routes.configuration, .model): a new policy resets
the model, exports round-trip, tampered or non-finite models are refused."""

from __future__ import annotations

import httpx
import pytest

from bandit.service.decision_service import DecisionService
from tests.serve_helpers import lib_rank, probe, rank_body, train_v2


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


def test_a_non_finite_checkpoint_or_upload_is_never_served(tmp_path):
    """A folder poisoned before these checks existed served 0.25 for every action for ever; an
    uploaded non-finite model would have been published."""
    import asyncio

    import numpy as np

    from artbandit.serve.app import create_app
    from bandit.service.model_export import export_model

    state = tmp_path / "s"
    with DecisionService(state, seed=0, id_seed=1) as svc:
        train_v2(lib_rank(svc), svc.reward, n=20)
        svc.policy.loss[:] = np.nan  # what the poisoned folders of issue 27 hold
        poisoned = export_model(svc.policy)
        svc._probe = None  # as a version without the checks: the close checkpoints it as it is
    with DecisionService(state, seed=0, id_seed=1, autocommit=False) as svc:
        assert svc.status()["modelRejections"] == 1 and "fresh model" in svc.status()["modelError"]
        assert np.isfinite(svc.policy.loss).all()
        gate = create_app(svc, key=None)

        async def upload():
            transport = httpx.ASGITransport(app=gate)
            async with httpx.AsyncClient(transport=transport, base_url="http://t/personalizer/v1.0") as c:
                return await c.put("/model", content=poisoned)

        r = asyncio.run(upload())
        assert r.status_code == 400 and "non-finite" in r.json()["error"]["message"]
        assert np.isfinite(svc.policy.loss).all()
