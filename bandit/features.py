"""VW text for contexts and actions, and a registry that formats each action once.

Why: building example strings is most of the per-decision cost in Python, so an action's VW line
(and its JSON for the event log) is computed once per (id, features) and reused. Names and string
values are percent-escaped (`%`, space, `:`, `|`, `=`, tabs, newlines) because VW's text format has no
escapes; percent-encoding is injective, so distinct names never collide.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from bandit.errors import BanditError

Context = dict[str, dict[str, "float | str"]]
Action = dict[str, Any]

# Every context namespace is written as "c_<name>": they all share VW namespace index 'c' (hashes
# still differ by full name), so one interaction `-q cA` crosses every context feature with every
# action feature. Actions live in namespace "A" together with their id (`id=<id>`).
CONTEXT_PREFIX = "c_"
ACTION_NAMESPACE = "A"

_ESCAPES = {"%": "%25", " ": "%20", ":": "%3A", "|": "%7C", "=": "%3D", "\t": "%09", "\n": "%0A",
            "\r": "%0D"}
_TABLE = str.maketrans(_ESCAPES)
_escaped: dict[str, str] = {}


def escape(text: str) -> str:
    """Make `text` safe as a VW feature or namespace name (injective percent-encoding)."""
    out = _escaped.get(text)
    if out is None:
        out = text.translate(_TABLE)
        if len(_escaped) < 100_000:
            _escaped[text] = out
    return out


def format_features(features: Mapping[str, Any], where: str) -> str:
    """`name:value` for numbers, `name=value` for strings; NaN/inf and other types are errors."""
    parts = []
    names = _escaped
    for name, value in features.items():
        kind = type(value)
        if kind is float or kind is int:
            # x - x is 0.0 for finite numbers, nan for nan/inf (cheaper than math.isfinite + call)
            if value - value == 0 and type(name) is str:
                parts.append(f"{names.get(name) or escape(name)}:{value}")
                continue
        elif kind is str and type(name) is str:
            parts.append(f"{names.get(name) or escape(name)}={escape(value)}")
            continue
        parts.append(_format_other(name, value, where))
    return " ".join(part for part in parts if part)


def _format_other(name: Any, value: Any, where: str) -> str:
    """The uncommon cases of format_features: bools, None (skipped), numpy numbers, and errors."""
    if type(name) is not str:
        raise BanditError(f"{where}: feature names must be strings, got {name!r}")
    if type(value) is bool:
        return f"{escape(name)}:{int(value)}"
    if value is None:
        return ""
    try:
        number = float(value)  # numpy scalars and other real numbers
    except (TypeError, ValueError):
        raise BanditError(
            f"{where}: feature {name!r} has unsupported type {type(value).__name__} "
            "(use a number or a string)"
        ) from None
    if not math.isfinite(number):
        raise BanditError(f"{where}: feature {name!r} is {value} (must be finite)")
    return f"{escape(name)}:{number}"


def check_context(context: Any) -> Context:
    """Validate the shape namespace -> {feature: value}; returns it unchanged."""
    if type(context) is dict and all(type(ns) is str and ns and type(f) is dict for ns, f in context.items()):
        return context  # the common case, without the slow abstract-class checks
    if not isinstance(context, Mapping):
        raise BanditError(f"context must be a mapping of namespace -> features, got {type(context).__name__}")
    for ns, feats in context.items():
        if type(ns) is not str or not ns:
            raise BanditError(f"context namespace names must be non-empty strings, got {ns!r}")
        if not isinstance(feats, Mapping):
            raise BanditError(f"context namespace {ns!r} must map feature names to values")
    return context  # type: ignore[return-value]


_namespace_text: dict[tuple, str] = {}
_namespace_json: dict[tuple, str] = {}


def context_json(context: Mapping[str, Mapping[str, Any]]) -> str:
    """Compact JSON of a context, built from per-namespace fragments cached by content."""
    cache = _namespace_json
    parts = []
    for ns, feats in context.items():
        try:
            key = (ns, *feats.items())
            text = cache.get(key)
        except TypeError:
            key, text = None, None
        if text is None:
            text = json.dumps(ns) + ":" + json.dumps(feats, separators=(",", ":"))
            if key is not None:
                if len(cache) >= 200_000:
                    cache.clear()
                cache[key] = text
        parts.append(text)
    return "{" + ",".join(parts) + "}"


def context_line(context: Mapping[str, Mapping[str, Any]]) -> str:
    """The VW `shared` line for a context (namespaces in the given order).

    Each namespace's text is cached by content: a viewer's profile namespace repeats across
    decisions, so it is formatted once."""
    parts = ["shared"]
    cache = _namespace_text
    for ns, feats in context.items():
        try:
            key = (ns, *feats.items())
            text = cache.get(key)
        except TypeError:  # an unhashable value: format_features reports it
            key, text = None, None
        if text is None:
            text = f"|{CONTEXT_PREFIX}{escape(ns)} {format_features(feats, f'context[{ns!r}]')}"
            if key is not None:
                if len(cache) >= 200_000:
                    cache.clear()
                cache[key] = text
        parts.append(text)
    if len(parts) == 1:
        parts.append(f"|{CONTEXT_PREFIX}")
    return " ".join(parts)


def plain(value: Any) -> Any:
    """A JSON-safe copy of a feature value (numpy scalars become floats)."""
    if type(value) in (str, float, int, bool) or value is None:
        return value
    return float(value)


@dataclass
class ActionEntry:
    """One action as seen by the policies: its id, a private copy of its features, cached text."""

    uid: int
    id: str
    features: dict[str, Any]
    vw_line: str
    json_text: str
    extra: dict[str, Any] = field(default_factory=dict)  # per-policy caches (e.g. LinUCB vectors)


class ActionRegistry:
    """Remembers each action id's latest features so repeated actions cost one dict comparison."""

    def __init__(self) -> None:
        self._by_id: dict[str, ActionEntry] = {}
        self._next_uid = 0

    def lookup(self, actions: Sequence[Mapping[str, Any]]) -> list[ActionEntry]:
        """Validate `actions` and return their entries (creating or refreshing as needed)."""
        if type(actions) is not list:
            if not isinstance(actions, Sequence) or isinstance(actions, (str, bytes)):
                raise BanditError("actions must be a non-empty list of {'id': str, 'features': {...}}")
            actions = list(actions)
        if not actions:
            raise BanditError("actions must be a non-empty list of {'id': str, 'features': {...}}")
        entries = []
        by_id = self._by_id
        seen = set()
        for action in actions:
            try:
                action_id = action["id"]
                feats = action["features"]
            except (TypeError, KeyError, IndexError):
                try:
                    action_id, feats = action["id"], {}
                except (TypeError, KeyError, IndexError):
                    raise BanditError(f"each action needs an 'id' and 'features' mapping, got {action!r}") from None
            entry = by_id.get(action_id) if type(action_id) is str else None
            if entry is None or entry.features != feats:
                entry = self._make(action_id, feats if feats is not None else {})
            if action_id in seen:
                raise BanditError(f"action ids must be unique within one rank call ({action_id!r} repeats)")
            seen.add(action_id)
            entries.append(entry)
        return entries

    def feature_names(self) -> list[str]:
        """Sorted union of the feature names of every known action."""
        names: set[str] = set()
        for entry in self._by_id.values():
            names.update(entry.features)
        return sorted(names)

    def _make(self, action_id: Any, feats: Any) -> ActionEntry:
        if type(action_id) is not str or not action_id:
            raise BanditError(f"action id must be a non-empty string, got {action_id!r}")
        if not isinstance(feats, Mapping):
            raise BanditError(f"action {action_id!r}: 'features' must be a mapping")
        copy = {str(k): plain(v) for k, v in feats.items()}
        body = format_features(copy, f"action {action_id!r}")
        line = f"|{ACTION_NAMESPACE} id={escape(action_id)} {body}".rstrip()
        entry = ActionEntry(
            uid=self._next_uid,
            id=action_id,
            features=copy,
            vw_line=line,
            json_text=json.dumps({"id": action_id, "features": copy}, separators=(",", ":")),
        )
        self._next_uid += 1
        if len(self._by_id) >= 1_000_000:  # a runaway catalogue: start over rather than grow forever
            self._by_id.clear()
        self._by_id[action_id] = entry
        return entry
