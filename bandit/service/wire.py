"""Personalizer's JSON, in one place: request and answer bodies, features, the service configuration.

Everything that knows a Personalizer JSON name lives here, for both sides: the service's routes
(artbandit.serve.routes) parse request bodies and build answers with it, and the HTTP client
(bandit.service.client) builds requests and reads answers with it.

Requests: each `*_args`/`*_from_wire` function takes the decoded JSON body and returns what the
DecisionService takes, or raises WireError with a one-line message (a 400). Unknown top-level fields
are refused, like Personalizer's own validation, so a typo (`excludeActions`) is reported instead of
silently ignored.

Features: Personalizer sends `contextFeatures: [{...}, {...}]` and actions `{id, features: [{...}]}`, where
each object may nest. The bandit wants a context as namespace -> {feature: value} and an action's
features as one flat {feature: value}. The mapping, chosen to round-trip the bandit's own shape:
- in contextFeatures, a key whose value is an object is a namespace (its nested keys flattened with
  '.'); a key with a plain value goes to the namespace 'default';
- an action's feature objects are merged and flattened the same way;
- a list becomes one feature per element (`name.0`, `name.1`, ...); null is left out.
Anything else (too deep, too many features, a key that is not a string) is a BanditError.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any, Mapping, Sequence

import orjson

from bandit.errors import BanditError
from bandit.lifecycle.book import Decision
from bandit.service.config import ServiceConfig, format_duration, parse_duration
from safeio.errors import one_line

DEFAULT_NAMESPACE = "default"
MAX_DEPTH = 8
MAX_FEATURES = 2_000  # per context or per action


def _flatten(value: Any, name: str, out: dict[str, Any], where: str, depth: int) -> None:
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool:
        out[name] = value
    elif value is None:
        return
    elif depth >= MAX_DEPTH:
        raise BanditError(f"{where}: features nest deeper than {MAX_DEPTH} levels")
    elif kind is dict:
        for key, item in value.items():
            _flatten(item, f"{name}.{key}" if name else key, out, where, depth + 1)
    elif kind is list:
        for i, item in enumerate(value):
            _flatten(item, f"{name}.{i}", out, where, depth + 1)
    else:
        raise BanditError(f"{where}: feature {name!r} has unsupported type {kind.__name__}")
    if len(out) > MAX_FEATURES:
        raise BanditError(f"{where}: more than {MAX_FEATURES} features")


def _objects(value: Any, where: str) -> list[dict]:
    if value is None:
        return []
    if type(value) is dict:
        return [value]
    if type(value) is not list or not all(type(item) is dict for item in value):
        raise BanditError(f"{where} must be a list of JSON objects")
    return value


def context_from_wire(features: Any) -> dict[str, dict[str, Any]]:
    """A bandit context from Personalizer's `contextFeatures`."""
    context: dict[str, dict[str, Any]] = {}
    for obj in _objects(features, "contextFeatures"):
        for key, value in obj.items():
            if not key:
                raise BanditError("contextFeatures: empty feature name")
            if type(value) is dict:
                _flatten(value, "", context.setdefault(key, {}), f"contextFeatures[{key!r}]", 1)
            else:
                _flatten(value, key, context.setdefault(DEFAULT_NAMESPACE, {}), "contextFeatures", 1)
    return {ns: feats for ns, feats in context.items() if feats} or {DEFAULT_NAMESPACE: {}}


def features_from_wire(features: Any, where: str) -> dict[str, Any]:
    """One action's (or slot's) flat features from Personalizer's list of feature objects."""
    out: dict[str, Any] = {}
    for obj in _objects(features, where):
        _flatten(obj, "", out, where, 0)
    return out


def context_to_wire(context: Mapping[str, Mapping[str, Any]]) -> list[dict]:
    """Personalizer's `contextFeatures` for a bandit context (inverse of context_from_wire)."""
    return [{ns: dict(feats)} for ns, feats in context.items()]


def actions_to_wire(actions: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Personalizer's actions for bandit actions ({id, features: {...}})."""
    return [{"id": a["id"], "features": [dict(a.get("features") or {})]} for a in actions]


# -- request bodies -> DecisionService arguments ---------------------------------------------------
class WireError(BanditError):
    """A request body that is not what the endpoint takes (HTTP 400)."""


def parse_body(raw: bytes) -> Any:
    """The decoded JSON of a request body; WireError for an empty or malformed one."""
    if not raw:
        raise WireError("the request needs a JSON body")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise WireError(f"malformed JSON: {one_line(exc)}") from None


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
        out.append(
            {"id": action["id"], "features": features_from_wire(action.get("features"), f"actions[{i}].features")}
        )
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
    """DecisionService.rank's keyword arguments from a POST /rank body."""
    body = _object(body, RANK_FIELDS, "rank request")
    return {
        "context": context_from_wire(body.get("contextFeatures")),
        "actions": _actions(body.get("actions")),
        "excluded": _ids(body.get("excludedActions"), "excludedActions"),
        "event_id": _event_id(body.get("eventId")),
        "defer": _flag(body.get("deferActivation"), "deferActivation"),
    }


def multislot_args(body: Any) -> dict[str, Any]:
    """DecisionService.rank_multislot's keyword arguments from a POST /multislot/rank body."""
    from bandit.service.decision_service import Slot  # here: the client needs no VW to build bodies

    body = _object(
        body, {"contextFeatures", "actions", "slots", "eventId", "deferActivation"}, "multi-slot rank request"
    )
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
        parsed.append(
            Slot(
                slot["id"],
                features_from_wire(slot.get("features"), f"slots[{i}].features"),
                tuple(_ids(slot.get("excludedActions"), f"slots[{i}].excludedActions")),
                baseline,
            )
        )
    return {
        "context": context_from_wire(body.get("contextFeatures")),
        "actions": _actions(body.get("actions")),
        "slots": parsed,
        "event_id": _event_id(body.get("eventId")),
        "defer": _flag(body.get("deferActivation"), "deferActivation"),
    }


def reward_value(body: Any) -> Any:
    """The value of a POST /events/{id}/reward body."""
    body = _object(body, {"value"}, "reward")
    if "value" not in body:
        raise WireError("reward needs a 'value'")
    value = body["value"]
    if type(value) not in (int, float):
        raise WireError(f"reward value must be a number, got {type(value).__name__}")
    return value


def multislot_rewards(body: Any) -> list[tuple[str, Any]]:
    """(slot id, value) pairs of a POST /multislot/events/{id}/reward body."""
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


def policy_from_wire(body: Any) -> tuple[str | None, str]:
    """(name or None, VW arguments) of a PUT /configurations/policy body."""
    body = _object(body, {"name", "arguments"}, "policy")
    if type(body.get("arguments")) is not str:
        raise WireError("policy needs 'arguments': a string of VW options")
    if "name" in body and type(body["name"]) is not str:
        raise WireError("policy name must be a string")
    return body.get("name"), body["arguments"]


# -- answers -----------------------------------------------------------------------------------------
def iso_time(ts: float | None) -> str | None:
    """Personalizer's timestamps: ISO-8601 in UTC with a 'Z'."""
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def error_json(code: str, message: str) -> dict[str, Any]:
    """Personalizer's error body."""
    return {"error": {"code": code, "message": message}}


def error_message(body: Any) -> str:
    """The message of Personalizer's error body (KeyError/TypeError when it is not one)."""
    return body["error"]["message"]


def rank_answer(decision: Decision) -> dict[str, Any]:
    """The 201 body of POST /rank (and what `artbandit rank --json` prints): the chosen action first."""
    return {
        "ranking": [{"id": a, "probability": p} for a, p in decision.ranking],
        "eventId": decision.event_id,
        "rewardActionId": decision.action_id,
    }


def multislot_answer(event_id: str, chosen: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The 201 body of POST /multislot/rank: each slot's chosen action."""
    return {"slots": [{"id": s, "rewardActionId": a} for s, a in chosen], "eventId": event_id}


def policy_to_wire(name: str, arguments: str) -> dict[str, Any]:
    """Personalizer's PolicyContract."""
    return {"name": name, "arguments": arguments}


def model_properties(
    created: float, modified: float, *, version: Any, learned: int, checkpoint_seq: Any, vw_arguments: Any
) -> dict[str, Any]:
    """The body of GET /model/properties (Personalizer's two times, then artbandit's own fields)."""
    return {
        "creationTime": iso_time(created),
        "lastModifiedTime": iso_time(modified),
        "modelVersion": version,
        "eventsLearned": learned,
        "checkpointSeq": checkpoint_seq,
        "vwArguments": vw_arguments,
    }


def log_properties(props: Mapping[str, Any]) -> dict[str, Any]:
    """The body of GET /logs/properties from Journal.properties()."""
    return {
        "dateRange": {"from": iso_time(props["first_time"]), "to": iso_time(props["last_time"])},
        "ranks": props["ranks"],
        "records": props["records"],
        "bytes": props["bytes"],
    }


# -- the service configuration ---------------------------------------------------------------------
# Personalizer's JSON name -> ServiceConfig field
SERVICE_CONFIG_FIELDS = {
    "rewardWaitTime": "reward_wait_s",
    "defaultReward": "default_reward",
    "rewardAggregation": "reward_aggregation",
    "explorationPercentage": "exploration",
    "modelExportFrequency": "model_export_s",
    "logRetentionDays": "log_retention_days",
    "learningMode": "learning_mode",
}
_DURATIONS = ("rewardWaitTime", "modelExportFrequency")
# Fields Personalizer's GET returns and SDKs send back unchanged; they mean nothing here.
_IGNORED_CONFIG_FIELDS = frozenset(
    {
        "logMirrorEnabled",
        "logMirrorSasUri",
        "lastConfigurationEditDate",
        "isAutoOptimizationEnabled",
        "autoOptimizationFrequency",
        "autoOptimizationStartDate",
    }
)


def service_config_to_wire(config: ServiceConfig) -> dict[str, Any]:
    """Personalizer's JSON for GET /configurations/service (durations as ISO-8601)."""
    out: dict[str, Any] = {}
    for key, field in SERVICE_CONFIG_FIELDS.items():
        value = getattr(config, field)
        out[key] = format_duration(value) if key in _DURATIONS else value
    return out


def service_config_from_wire(config: ServiceConfig, body: Any, reward_range: tuple[float, float]) -> ServiceConfig:
    """A copy of `config` with the fields of a PUT body applied (Personalizer's names), checked as a
    whole. Unknown fields are an error; Personalizer's read-only/informational fields are ignored."""
    if not isinstance(body, Mapping):
        raise BanditError("the service configuration must be a JSON object")
    changes: dict[str, Any] = {}
    for key, value in body.items():
        if key in _IGNORED_CONFIG_FIELDS:
            continue
        field = SERVICE_CONFIG_FIELDS.get(key)
        if field is None:
            raise BanditError(f"unknown service configuration field {key!r}")
        changes[field] = _config_value(key, value)
    return replace(config, **changes).check(reward_range)


def _config_value(key: str, value: Any) -> Any:
    if key in _DURATIONS:
        return parse_duration(value, key)
    if key in ("defaultReward", "explorationPercentage"):
        if type(value) not in (int, float):
            raise BanditError(f"{key} must be a number, got {value!r}")
        return float(value)
    if key == "logRetentionDays":
        if type(value) is not int:
            raise BanditError(f"{key} must be an integer, got {value!r}")
        return value
    if type(value) is not str:
        raise BanditError(f"{key} must be a string, got {value!r}")
    return value


# -- the client's side -----------------------------------------------------------------------------
def rank_request(
    context: Mapping[str, Mapping[str, Any]],
    actions: Sequence[Mapping[str, Any]],
    *,
    excluded: Sequence[str] = (),
    event_id: str | None = None,
    defer: bool = False,
) -> dict[str, Any]:
    """A POST /rank body for a bandit context and actions (the inverse of rank_args)."""
    body: dict[str, Any] = {"contextFeatures": context_to_wire(context), "actions": actions_to_wire(actions)}
    if excluded:
        body["excludedActions"] = list(excluded)
    if event_id is not None:
        body["eventId"] = event_id
    if defer:
        body["deferActivation"] = True
    return body


def reward_request(value: float) -> dict[str, Any]:
    """A POST /events/{id}/reward body."""
    return {"value": value}


def rank_from_wire(answer: Mapping[str, Any]) -> tuple[str, str, dict[str, float]]:
    """(event id, chosen action id, {action id: probability}) of a POST /rank answer."""
    return answer["eventId"], answer["rewardActionId"], {r["id"]: r["probability"] for r in answer["ranking"]}
