"""JSON values as features: nested objects flattened, top-level objects as namespaces, numbers and
times parsed.

Shared by the DSJSON reader and the generic table reader (JSON objects in JSONL/Parquet/CSV cells).
"""
from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from simulations.ope.errors import OPEError

DEFAULT_NAMESPACE = "context"


def flatten(obj: Any, prefix: str = "") -> dict[str, float | str]:
    """Nested JSON features as one flat dict: numbers stay numbers, everything else a category.

    VW's indicator form {"name=value": 1} (how DSJSON writes categories) becomes {"name": "value"}.
    """
    out: dict[str, float | str] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            if str(k).startswith("_"):
                continue
            k = str(k)
            if "=" in k and v == 1 and not isinstance(v, bool):
                name, _, value = k.partition("=")
                out[f"{prefix}{name}"] = value
                continue
            out.update(flatten(v, f"{prefix}{k}." if isinstance(v, (dict, list)) else f"{prefix}{k}"))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}{i}"))
    elif isinstance(obj, bool):
        out[prefix or "value"] = str(obj).lower()
    elif isinstance(obj, (int, float)):
        out[prefix or "value"] = float(obj)
    elif obj is not None:
        out[prefix or "value"] = str(obj)
    return out


def namespaces(obj: dict) -> dict[str, dict[str, float | str]]:
    """Top-level JSON objects become namespaces; loose scalars go to the default namespace."""
    out: dict[str, dict[str, float | str]] = {}
    loose: dict[str, Any] = {}
    for k, v in obj.items():
        if isinstance(v, dict):
            out[str(k)] = flatten(v)
        else:
            loose[k] = v
    if loose:
        out.setdefault(DEFAULT_NAMESPACE, {}).update(flatten(loose))
    return out


def finite_number(value: object) -> float | None:
    """value as a finite float, or None (text, NaN, infinities, booleans are not rewards)."""
    if isinstance(value, bool):
        return None
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def parse_time(value: Any) -> float | None:
    """Seconds from a number or an ISO-8601 string (DSJSON's Timestamp)."""
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        pass
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def scalar_id(value: Any, what: str) -> str:
    """An action id from a log cell: a string or a number, never a list or an object turned into text."""
    if type(value) is str:
        return value
    if isinstance(value, (dict, list, tuple)):
        raise OPEError(f"{what} is a nested value ({type(value).__name__}), not an action id")
    return "" if value is None else str(value)


def is_nested_list(value: list) -> bool:
    """A list holding lists or objects: not a feature vector (refused where a feature is expected)."""
    return any(isinstance(v, (dict, list, tuple)) for v in value)
