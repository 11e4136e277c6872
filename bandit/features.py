"""Contexts and actions as the policies see them: validation, the context's JSON for the event log,
and a registry that formats each action once (its VW line and its JSON).

Why a registry: building example strings is most of the per-decision cost in Python, so an action's VW
line and JSON are computed once per (id, features) and reused. The VW text itself lives in
bandit.vwformat (re-exported here for older imports).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import orjson

from bandit.cache import TextCache
from bandit.errors import BanditError
from bandit.vwformat import (  # noqa: F401  (re-exported: older imports read them from here)
    ACTION_NAMESPACE,
    CONTEXT_PREFIX,
    MAX_ABS_VALUE,
    action_line,
    check_number,
    context_line,
    escape,
    format_features,
)

Context = dict[str, dict[str, "float | str"]]
Action = dict[str, Any]
_SCALARS = (str, float, int, bool, type(None))


def check_context(context: Any) -> Context:
    """Validate the shape namespace -> {feature: value}; returns it unchanged."""
    if type(context) is dict:  # the common case, without the slow abstract-class checks
        for ns, f in context.items():
            if type(ns) is not str or not ns or type(f) is not dict:
                break
        else:
            return context
    if not isinstance(context, Mapping):
        raise BanditError(f"context must be a mapping of namespace -> features, got {type(context).__name__}")
    for ns, feats in context.items():
        if type(ns) is not str or not ns:
            raise BanditError(f"context namespace names must be non-empty strings, got {ns!r}")
        if not isinstance(feats, Mapping):
            raise BanditError(f"context namespace {ns!r} must map feature names to values")
    return context  # type: ignore[return-value]


def check_features(features: Mapping[Any, Any], where: str) -> bool:
    """Every name a string and every value a finite number within ±MAX_ABS_VALUE (bandit.vwformat),
    a string, a bool or None (nothing nested); True when every value is already a plain Python
    scalar (no numpy numbers)."""
    is_plain = True
    lim = MAX_ABS_VALUE
    for name, value in features.items():
        if type(name) is not str:
            raise BanditError(f"{where}: feature names must be strings, got {name!r}")
        kind = type(value)
        if kind is float or kind is int:
            if not -lim <= value <= lim:
                check_number(value, f"{where}: feature {name!r}")
        elif kind not in _SCALARS:
            number = plain(value, f"{where}: feature {name!r}")
            check_number(number, f"{where}: feature {name!r}")
            is_plain = False
    return is_plain


_namespace_json = TextCache(200_000, 8_000_000)


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
            if not check_features(feats, f"context[{ns!r}]"):
                feats = {k: plain(v) for k, v in feats.items()}
            text = orjson.dumps({ns: feats}).decode()[1:-1]  # '"ns":{...}' (orjson: ~5x json.dumps)
            if key is not None:
                cache.put(key, text, 2 * len(text) + 100 * len(key))  # ~bytes: text, key tuple, items
        parts.append(text)
    return "{" + ",".join(parts) + "}"


def validated_context_json(context: Mapping[str, Mapping[str, Any]]) -> str:
    """`context_json` for a context whose values were already validated (the personalizer's VW text
    formatting checks every value): one orjson call, no per-namespace cache (~0.5 us instead of ~4
    us for a context that never repeats). Falls back to `context_json` for what orjson will not
    write (numpy scalars other than float64, integers over 64 bits)."""
    try:
        return orjson.dumps(context).decode()
    except TypeError:
        return context_json(context)


def plain(value: Any, where: str = "feature") -> Any:
    """A JSON-safe copy of a feature value (numpy scalars become floats); nested values are errors."""
    if type(value) in _SCALARS:
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        raise BanditError(f"{where} has unsupported type {type(value).__name__} (use a number or a string)") from None


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

    def __init__(self, max_actions: int = 100_000, max_bytes: int = 32 << 20) -> None:
        self._by_id: dict[str, ActionEntry] = {}
        self._next_uid = 0
        self._max = int(max_actions)
        self._max_bytes = int(max_bytes)  # estimated: fresh 200-character ids in every request grew it by count only
        self._bytes = 0
        self._last: list[ActionEntry] = []  # the last looked-up set, and what describe() made of it
        self._described: tuple[tuple[int, ...], list[str]] | None = None

    def lookup(self, actions: Sequence[Mapping[str, Any]]) -> list[ActionEntry]:
        """Validate `actions` and return their entries (creating or refreshing as needed). The same
        actions as the last call (equal ids and features, in the same order) give the same list
        object back: policies and the log then reuse what they built for it (do not modify it)."""
        if type(actions) is list and actions:
            # the common case: every action known with the same features (a dict comparison each)
            by_id = self._by_id
            entries = []
            try:
                for action in actions:
                    action_id = action["id"]
                    entry = by_id[action_id] if type(action_id) is str else None
                    if entry is None or entry.features != action["features"]:
                        break
                    entries.append(entry)
                else:
                    last = self._last
                    if entries == last:  # the same entries (compared by identity first)
                        return last
                    if len({e.id for e in entries}) == len(entries):
                        self._last, self._described = entries, None
                        return entries
            except (TypeError, KeyError, IndexError):
                pass
        entries = self._lookup(actions)
        self._last, self._described = entries, None
        return entries

    def describe(self, entries: list[ActionEntry]) -> tuple[tuple[int, ...], list[str]]:
        """The candidate set's key for the event log (its entries' uids) and its actions' JSON,
        computed once for the last looked-up set."""
        described = self._described
        if described is None or entries is not self._last:
            described = (tuple([e.uid for e in entries]), [e.json_text for e in entries])
            if entries is self._last:
                self._described = described
        return described

    def _lookup(self, actions: Sequence[Mapping[str, Any]]) -> list[ActionEntry]:
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

    def charge(self, nbytes: int) -> None:
        """Count `nbytes` more against the byte bound: what a policy keeps in an entry's `extra`
        (the ridge member's flat features: with actions new at every request, ~40% more than the
        entry itself). Past the bound, the next new entry starts the registry over."""
        self._bytes += int(nbytes)

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
        where = f"action {action_id!r}"
        check_features(feats, where)
        copy = {k: plain(v, f"{where}: feature {k!r}") for k, v in feats.items()}
        entry = ActionEntry(
            uid=self._next_uid,
            id=action_id,
            features=copy,
            vw_line=action_line(action_id, copy),
            json_text=json.dumps({"id": action_id, "features": copy}, separators=(",", ":")),
        )
        self._next_uid += 1
        # ~bytes: the two texts, the features copy (about as long as its JSON) and the objects (an
        # entry with 5 numeric features and a short id: ~1,140 bytes counted object by object, the
        # values it keeps included; 600 here undercounted it by 14%: tests/bandit/test_features.py)
        cost = 2 * len(entry.vw_line) + 3 * len(entry.json_text) + 800
        if len(self._by_id) >= self._max or self._bytes + cost > self._max_bytes:
            self._by_id.clear()  # a runaway catalogue: start over rather than grow forever
            self._bytes = 0
        self._by_id[action_id] = entry
        self._bytes += cost
        return entry
