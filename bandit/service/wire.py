"""Personalizer's JSON features <-> the bandit's contexts and actions.

Personalizer sends `contextFeatures: [{...}, {...}]` and actions `{id, features: [{...}]}`, where
each object may nest. The bandit wants a context as namespace -> {feature: value} and an action's
features as one flat {feature: value}. The mapping, chosen to round-trip the bandit's own shape:
- in contextFeatures, a key whose value is an object is a namespace (its nested keys flattened with
  '.'); a key with a plain value goes to the namespace 'default';
- an action's feature objects are merged and flattened the same way;
- a list becomes one feature per element (`name.0`, `name.1`, ...); null is left out.
Anything else (too deep, too many features, a key that is not a string) is a BanditError.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from bandit.errors import BanditError

DEFAULT_NAMESPACE = "default"
MAX_DEPTH = 8
MAX_FEATURES = 2_000   # per context or per action


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
