"""/configurations/service (artbandit.serve.routes.configuration) on a real `artbandit serve`."""

from __future__ import annotations


def test_service_configuration_round_trip(server):
    original = server.client.get("/configurations/service").json()
    assert original["rewardWaitTime"] == "PT10M" and original["learningMode"] == "Online"
    changed = {
        **original,
        "rewardWaitTime": "PT1H30M",
        "defaultReward": 0.25,
        "rewardAggregation": "average",
        "modelExportFrequency": "PT2M",
        "logRetentionDays": 30,
        "explorationPercentage": 0.1,
    }
    put = server.client.put("/configurations/service", json=changed)
    assert put.status_code == 200 and put.json() == changed
    assert server.client.get("/configurations/service").json() == changed
    assert server.client.put("/configurations/service", json=original).json() == original
