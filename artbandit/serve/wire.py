"""Personalizer's request bodies -> DecisionService arguments, refusing anything malformed.

Each function takes the decoded JSON body and returns keyword arguments, or raises WireError with a
one-line message (a 400). Unknown top-level fields are refused, like Personalizer's own validation,
so a typo (`excludeActions`) is reported instead of silently ignored.
"""
from __future__ import annotations

from typing import Any

import orjson

from bandit.errors import BanditError
from bandit.service.wire import context_from_wire, features_from_wire
from bandit.service.decision_service import Slot


class WireError(BanditError):
    """A request body that is not what the endpoint takes (HTTP 400)."""


def parse_body(raw: bytes) -> Any:
    if not raw:
        raise WireError("the request needs a JSON body")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise WireError(f"malformed JSON: {str(exc).splitlines()[0]}") from None


def _object(body: Any, allowed: set[str], what: str) -> dict:
    if type(body) is not dict:
        raise WireError(f"{what} must be a JSON object")
    unknown = [k for k in body if k not in allowed]
    if unknown:
        raise WireError(f"{what}: unknown field {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
    return body


def _actions(value: Any) -> list[dict]:
    if type(value) is not list or not value:
        raise WireError("actions must be a non-empty list of {id, features}")
    out = []
    for i, action in enumerate(value):
        _object(action, {"id", "features"}, f"actions[{i}]")
        if type(action.get("id")) is not str or not action["id"]:
            raise WireError(f"actions[{i}].id must be a non-empty string")
        out.append({"id": action["id"], "features": features_from_wire(action.get("features"), f"actions[{i}].features")})
    return out


def _flag(value: Any, name: str) -> bool:
    if value is None:
        return False
    if type(value) is not bool:
        raise WireError(f"{name} must be true or false")
    return value


def _ids(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if type(value) is not list or not all(type(x) is str for x in value):
        raise WireError(f"{name} must be a list of action id strings")
    return value


def _event_id(value: Any) -> str | None:
    if value is not None and type(value) is not str:
        raise WireError("eventId must be a string")
    return value


RANK_FIELDS = {"contextFeatures", "actions", "excludedActions", "eventId", "deferActivation"}


def rank_args(body: Any) -> dict[str, Any]:
    body = _object(body, RANK_FIELDS, "rank request")
    return {
        "context": context_from_wire(body.get("contextFeatures")),
        "actions": _actions(body.get("actions")),
        "excluded": _ids(body.get("excludedActions"), "excludedActions"),
        "event_id": _event_id(body.get("eventId")),
        "defer": _flag(body.get("deferActivation"), "deferActivation"),
    }


def multislot_args(body: Any) -> dict[str, Any]:
    body = _object(body, {"contextFeatures", "actions", "slots", "eventId", "deferActivation"},
                   "multi-slot rank request")
    slots = body.get("slots")
    if type(slots) is not list or not slots:
        raise WireError("slots must be a non-empty list of {id, features, excludedActions, baselineAction}")
    parsed = []
    for i, slot in enumerate(slots):
        _object(slot, {"id", "features", "excludedActions", "baselineAction"}, f"slots[{i}]")
        if type(slot.get("id")) is not str or not slot["id"]:
            raise WireError(f"slots[{i}].id must be a non-empty string")
        baseline = slot.get("baselineAction")
        if baseline is not None and type(baseline) is not str:
            raise WireError(f"slots[{i}].baselineAction must be an action id")
        parsed.append(Slot(slot["id"], features_from_wire(slot.get("features"), f"slots[{i}].features"),
                           tuple(_ids(slot.get("excludedActions"), f"slots[{i}].excludedActions")), baseline))
    return {
        "context": context_from_wire(body.get("contextFeatures")),
        "actions": _actions(body.get("actions")),
        "slots": parsed,
        "event_id": _event_id(body.get("eventId")),
        "defer": _flag(body.get("deferActivation"), "deferActivation"),
    }


def reward_value(body: Any) -> Any:
    body = _object(body, {"value"}, "reward")
    if "value" not in body:
        raise WireError("reward needs a 'value'")
    value = body["value"]
    if type(value) not in (int, float):
        raise WireError(f"reward value must be a number, got {type(value).__name__}")
    return value


def multislot_rewards(body: Any) -> list[tuple[str, Any]]:
    body = _object(body, {"reward"}, "multi-slot reward")
    items = body.get("reward")
    if type(items) is not list or not items:
        raise WireError("reward must be a non-empty list of {slotId, value}")
    out = []
    for i, item in enumerate(items):
        _object(item, {"slotId", "value"}, f"reward[{i}]")
        if type(item.get("slotId")) is not str:
            raise WireError(f"reward[{i}].slotId must be a string")
        if type(item.get("value")) not in (int, float):
            raise WireError(f"reward[{i}].value must be a number")
        out.append((item["slotId"], item["value"]))
    return out


def policy_body(body: Any) -> str:
    body = _object(body, {"name", "arguments"}, "policy")
    if type(body.get("arguments")) is not str:
        raise WireError("policy needs 'arguments': a string of VW options")
    if "name" in body and type(body["name"]) is not str:
        raise WireError("policy name must be a string")
    return body["arguments"]
