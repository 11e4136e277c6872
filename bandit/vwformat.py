"""The one home of Vowpal Wabbit's input formats as artbandit writes them: text lines and DSJSON.

Who uses it: the personalizer (text examples it learns from), the event log's DSJSON exporter, and the
OPE reward model (simulations/ope/rewardmodel.py). The OPE DSJSON reader will move here too; the public
names below are stable for it: CONTEXT_PREFIX, ACTION_NAMESPACE, ID_FEATURE, escape, unescape,
format_features, context_line, action_line, dsjson_features, dsjson_context, dsjson_action, and their
inverses for readers of artbandit's DSJSON export: is_artbandit_dsjson, context_from_dsjson,
action_from_dsjson.

Layout: one shared line carries the context (every namespace written as `c_<name>`, so they all share
VW namespace index 'c' while hashing by full name, and one interaction `-q cA` crosses every context
feature with every action feature); one line per action carries `id=<id>` and its features in
namespace `A`.

Escaping: VW's text format has no escapes, and its JSON parser treats keys starting with `_` as its own
fields (`_label_cost` is a cost, other `_x` keys are dropped). Names and string values are therefore
percent-encoded (`%`, space, `:`, `|`, `=`, tab, CR, LF, and a leading `_`), the same way in both
formats, so `vw --dsjson` sees exactly the features the text examples carry. Percent-encoding is
injective: distinct names never collide (`x=y=z` is `x=y%3Dz` or `x%3Dy=z`, never both).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from bandit.cache import TextCache
from bandit.errors import BanditError

CONTEXT_PREFIX = "c_"
ACTION_NAMESPACE = "A"
ID_FEATURE = "id"

# The largest feature value VW is given (either sign). VW learns in 32-bit floats and the default
# policy crosses up to three features (`-q ccA`), so large values overflow inside its updates.
# Measured (vw:select, 10 rank+reward calls with the value, then 150 events where one action pays):
# 1e12 still learns (0.97), 1e13 and beyond leave every probability at 0.25 for good. 1e10 keeps a
# 100x margin and still admits Unix timestamps in seconds, which logs do carry.
MAX_ABS_VALUE = 1e10

_ESCAPES = {"%": "%25", " ": "%20", ":": "%3A", "|": "%7C", "=": "%3D", "\t": "%09", "\n": "%0A", "\r": "%0D"}
_TABLE = str.maketrans(_ESCAPES)
_UNESCAPES = {v: k for k, v in _ESCAPES.items()} | {"%5F": "_"}
# escaped names and values, by the raw text (a viewer's country, a feature name...): bounded by size
_escaped = TextCache(100_000, 4_000_000)


def escape(text: str) -> str:
    """Make `text` safe as a VW feature or namespace name, in text and in DSJSON alike."""
    out = _escaped.get(text)
    if out is None:
        out = text.translate(_TABLE)
        if out[:1] == "_":
            out = "%5F" + out[1:]
        _escaped.put(text, out, 2 * len(text) + 120)  # ~bytes: two strings and a slot
    return out


def unescape(text: str) -> str:
    """The raw text of an escaped name (inverse of `escape`)."""
    if "%" not in text:
        return text
    parts = text.split("%")
    out = [parts[0]]
    for part in parts[1:]:
        out.append(_UNESCAPES.get("%" + part[:2], "%" + part[:2]) + part[2:])
    return "".join(out)


def format_features(features: Mapping[str, Any], where: str) -> str:
    """`name:value` for numbers, `name=value` for strings; NaN/inf, numbers beyond MAX_ABS_VALUE and
    other types are errors (one home for the rule: every number a client sends VW passes here)."""
    return _features_text(features, where, "")


def _features_text(features: Mapping[str, Any], where: str | None, namespace: str) -> str:
    """format_features; `where` None: the context namespace `namespace`'s (its message is made
    only for an error: building it for every namespace of every decision cost more than a feature)."""
    parts = []
    names = _escaped
    lim = MAX_ABS_VALUE
    for name, value in features.items():
        kind = type(value)
        if kind is float or kind is int:
            # false for NaN (every comparison is), infinities and numbers beyond the bound
            if -lim <= value <= lim and type(name) is str:
                parts.append(f"{names.get(name) or escape(name)}:{value}")
                continue
        elif kind is str and type(name) is str:
            parts.append(f"{names.get(name) or escape(name)}={names.get(value) or escape(value)}")
            continue
        text = _format_other(name, value, f"context[{namespace!r}]" if where is None else where)
        if text:
            parts.append(text)
    return " ".join(parts)


def _number(name: Any, value: Any, where: str) -> float | None:
    """The numeric value of a non-string feature (None: skipped), or a BanditError."""
    if type(name) is not str:
        raise BanditError(f"{where}: feature names must be strings, got {name!r}")
    if value is None:
        return None
    if type(value) is bool:
        return float(value)
    try:
        number = float(value)  # numpy scalars and other real numbers
    except OverflowError:  # an integer beyond any float
        number = math.inf
    except (TypeError, ValueError):
        raise BanditError(
            f"{where}: feature {name!r} has unsupported type {type(value).__name__} (use a number or a string)"
        ) from None
    check_number(number, f"{where}: feature {name!r}")
    return number


def check_number(number: float, what: str) -> None:
    """BanditError unless `number` is finite and within ±MAX_ABS_VALUE (what VW learns from safely)."""
    if type(number) is int and not -MAX_ABS_VALUE <= number <= MAX_ABS_VALUE:
        number = (math.inf if number > 0 else -math.inf) if abs(number) > 1e308 else float(number)
    if not math.isfinite(number):
        raise BanditError(f"{what} is {number} (must be finite)")
    if not -MAX_ABS_VALUE <= number <= MAX_ABS_VALUE:
        raise BanditError(
            f"{what} is {number:g}: numbers must be within ±{MAX_ABS_VALUE:g} (VW learns in "
            "32-bit floats; scale the feature, or send it as a string)"
        )


def _format_other(name: Any, value: Any, where: str) -> str:
    """The uncommon cases of format_features: bools, None (skipped), numpy numbers, and errors."""
    if type(name) is not str:
        raise BanditError(f"{where}: feature names must be strings, got {name!r}")
    if type(value) is bool:
        return f"{escape(name)}:{int(value)}"
    number = _number(name, value, where)
    return "" if number is None else f"{escape(name)}:{number}"


_namespace_text = TextCache(200_000, 8_000_000)


# namespace name -> [lookups, hits] since the last reset: a namespace whose content never repeats
# (session signals, time of day) is formatted without building, hashing and storing a cache key
_namespace_hits: dict[str, list[int]] = {}
_PROBE = 1024  # lookups before a namespace's hit rate is judged (and again after each reset)


def context_line(context: Mapping[str, Mapping[str, Any]]) -> str:
    """The VW `shared` line for a context (namespaces in the given order).

    Each namespace's text is cached by content: a viewer's profile namespace repeats across
    decisions, so it is formatted once. Namespaces that hit the cache less than 1 time in 16 skip
    it until their next probe (every 64k lookups), so never-repeating contexts cost no cache work."""
    parts = ["shared"]
    cache = _namespace_text
    stats = _namespace_hits
    for ns, feats in context.items():
        counts = stats.get(ns)
        if counts is None:
            counts = stats[ns] = [0, 0]
            if len(stats) > 10_000:  # namespace names are the caller's: keep the table bounded
                stats.clear()
                stats[ns] = counts
        counts[0] += 1
        text = key = None
        if counts[0] < _PROBE or counts[1] * 16 >= counts[0]:
            try:
                key = (ns, *feats.items())
                text = cache.get(key)
            except TypeError:  # an unhashable value: format_features reports it
                key = None
        elif counts[0] >= 64 * _PROBE:
            counts[0] = counts[1] = 0  # probe again: traffic changes
        if text is None:
            text = f"|{CONTEXT_PREFIX}{_escaped.get(ns) or escape(ns)} {_features_text(feats, None, ns)}"
            if key is not None:
                cache.put(key, text, 2 * len(text) + 100 * len(key))  # ~bytes: text, key tuple, items
        else:
            counts[1] += 1
        parts.append(text)
    if len(parts) == 1:
        parts.append(f"|{CONTEXT_PREFIX}")
    return " ".join(parts)


def action_line(action_id: str, features: Mapping[str, Any]) -> str:
    """The VW line of one action: its id as the indicator `id=<id>` plus its features, namespace A."""
    body = format_features(features, f"action {action_id!r}")
    return f"|{ACTION_NAMESPACE} {ID_FEATURE}={escape(action_id)} {body}".rstrip()


def dsjson_features(features: Mapping[str, Any], where: str = "features") -> dict[str, float]:
    """One namespace's features as DSJSON: exactly the names `format_features` writes, strings
    as the indicator `name=value` with value 1."""
    out: dict[str, float] = {}
    for name, value in features.items():
        if type(value) is str and type(name) is str:
            out[f"{escape(name)}={escape(value)}"] = 1
            continue
        number = _number(name, value, where)
        if number is not None:
            out[escape(name)] = number
    return out


def dsjson_context(context: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """The context namespaces of a DSJSON `c` object (without `_multi`)."""
    return {f"{CONTEXT_PREFIX}{escape(ns)}": dsjson_features(f, f"context[{ns!r}]") for ns, f in context.items()}


def dsjson_action(action_id: str, features: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """One entry of a DSJSON `_multi` list: the same features as `action_line`."""
    return {
        ACTION_NAMESPACE: {f"{ID_FEATURE}={escape(action_id)}": 1, **dsjson_features(features, f"action {action_id!r}")}
    }


def is_artbandit_dsjson(c: Mapping[str, Any]) -> bool:
    """Whether a DSJSON `c` object has artbandit's layout (what `dsjson_context`/`dsjson_action` write):
    context namespaces `c_<name>`, each `_multi` entry one namespace A starting with `id=<id>`."""
    multi = c.get("_multi")
    if not isinstance(multi, list) or not multi:
        return False
    for action in multi:
        feats = action.get(ACTION_NAMESPACE) if isinstance(action, dict) and len(action) == 1 else None
        if not isinstance(feats, dict) or not next(iter(feats), "").startswith(ID_FEATURE + "="):
            return False
    return all(k == "_multi" or (k.startswith(CONTEXT_PREFIX) and isinstance(v, dict)) for k, v in c.items())


def features_from_dsjson(obj: Mapping[str, Any], where: str = "features") -> dict[str, float | str]:
    """The inverse of `dsjson_features`: raw names and values back (escaped names never contain `=`,
    so `name=value` with value 1 is a string feature; anything else a number)."""
    out: dict[str, float | str] = {}
    for key, value in obj.items():
        if "=" in key and value == 1 and type(value) is not bool:
            name, _, text = key.partition("=")
            out[unescape(name)] = unescape(text)
            continue
        if type(value) not in (int, float) or not math.isfinite(value):
            raise BanditError(f"{where}: feature {unescape(key)!r} has value {value!r} (not a finite number)")
        check_number(float(value), f"{where}: feature {unescape(key)!r}")
        out[unescape(key)] = float(value)
    return out


def context_from_dsjson(c: Mapping[str, Any]) -> dict[str, dict[str, float | str]]:
    """The inverse of `dsjson_context` (the `_multi` key is ignored)."""
    return {
        unescape(ns[len(CONTEXT_PREFIX) :]): features_from_dsjson(feats, f"context {unescape(ns)!r}")
        for ns, feats in c.items()
        if ns != "_multi"
    }


def action_from_dsjson(action: Mapping[str, Any]) -> tuple[str, dict[str, float | str]]:
    """The inverse of `dsjson_action`: (action id, features)."""
    items = iter(action[ACTION_NAMESPACE].items())
    id_key, _ = next(items)
    action_id = unescape(id_key[len(ID_FEATURE) + 1 :])
    return action_id, features_from_dsjson(dict(items), f"action {action_id!r}")
