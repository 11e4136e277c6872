"""bandit.service.wire, the one home of Personalizer's JSON: what the client sends is what the
service parses, and the service configuration's JSON round-trips through its one field map."""

from __future__ import annotations

import pytest

from bandit.errors import BanditError
from bandit.lifecycle.book import Decision
from bandit.service import wire
from bandit.service.config import ServiceConfig


def test_a_client_rank_body_parses_back_to_the_same_decision_arguments():
    context = {"user": {"seg": "a", "n": 3}, "default": {"hour": 9}}
    actions = [{"id": "v0", "features": {"style": "dark", "w": 1.5}}, {"id": "v1", "features": {}}]
    body = wire.rank_request(context, actions, excluded=["v1"], event_id="e-1", defer=True)
    assert set(body) == wire.RANK_FIELDS
    assert wire.rank_args(body) == {
        "context": context,
        "actions": actions,
        "excluded": ["v1"],
        "event_id": "e-1",
        "defer": True,
    }
    bare = wire.rank_request(context, actions)
    assert set(bare) == {"contextFeatures", "actions"}
    assert wire.rank_args(bare)["excluded"] == [] and wire.rank_args(bare)["defer"] is False


def test_a_rank_answer_reads_back_on_the_client_side():
    answer = wire.rank_answer(Decision("e-2", "v1", 1, 0.75, [0.25, 0.75], [("v1", 0.75), ("v0", 0.25)]))
    assert answer["ranking"][0] == {"id": "v1", "probability": 0.75}
    assert wire.rank_from_wire(answer) == ("e-2", "v1", {"v1": 0.75, "v0": 0.25})
    assert wire.reward_value(wire.reward_request(0.5)) == 0.5
    assert wire.error_message(wire.error_json("Conflict", "late")) == "late"


def test_the_service_configuration_round_trips_with_personalizers_names():
    config = ServiceConfig(
        reward_wait_s=5400.0,
        default_reward=0.25,
        reward_aggregation="average",
        exploration=0.1,
        model_export_s=120.0,
        log_retention_days=30,
        learning_mode="Apprentice",
    )
    body = wire.service_config_to_wire(config)
    assert body == {
        "rewardWaitTime": "PT1H30M",
        "defaultReward": 0.25,
        "rewardAggregation": "average",
        "explorationPercentage": 0.1,
        "modelExportFrequency": "PT2M",
        "logRetentionDays": 30,
        "learningMode": "Apprentice",
    }
    assert wire.service_config_from_wire(ServiceConfig(), body, (0.0, 1.0)) == config
    # Personalizer's informational fields are ignored; unknown ones and bad values are refused whole
    same = wire.service_config_from_wire(config, {"logMirrorEnabled": True}, (0.0, 1.0))
    assert same == config
    with pytest.raises(BanditError, match="unknown service configuration field 'surprise'"):
        wire.service_config_from_wire(config, {"surprise": 1}, (0.0, 1.0))
    with pytest.raises(BanditError, match="rewardWaitTime: '10 minutes' is not an ISO-8601 duration"):
        wire.service_config_from_wire(config, {"rewardWaitTime": "10 minutes"}, (0.0, 1.0))


def test_request_bodies_are_refused_with_one_line_messages():
    with pytest.raises(wire.WireError, match="the request needs a JSON body"):
        wire.parse_body(b"")
    with pytest.raises(wire.WireError, match="^malformed JSON: "):
        wire.parse_body(b"{not json")
    with pytest.raises(wire.WireError, match=r"rank request: unknown field 'excludeActions'"):
        wire.rank_args({"actions": [{"id": "a"}], "excludeActions": []})
    with pytest.raises(wire.WireError, match="policy needs 'arguments'"):
        wire.policy_from_wire({"name": "p"})
    assert wire.policy_from_wire({"arguments": "--cb_explore_adf"}) == (None, "--cb_explore_adf")
