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


# The largest reward magnitude and the smallest logging probability a log may hold. Why: past them an
# importance weight times a reward, squared for the interval, leaves float64 (1e-300 gave weights of
# 1e300 and NaN intervals; a reward of 1e308 a mean of 6.7e304), and no real decision log is there:
# a probability under 1e-12 is a logger that never chose the action, a reward over 1e12 a unit error.
MAX_ABS_REWARD = 1e12
MIN_PROPENSITY = 1e-12


def reward_problem(value: float) -> str | None:
    """Why a finite reward cannot be replayed (None: it can)."""
    if abs(value) > MAX_ABS_REWARD:
        return f"is outside [-{MAX_ABS_REWARD:.0e}, {MAX_ABS_REWARD:.0e}] (rescale the rewards)"
    return None


def propensity_problem(value: float | None) -> str | None:
    """Why a logging probability cannot be replayed (None: it can): not in (0, 1], or so small that
    its importance weight 1/p would swamp every estimate."""
    if value is None or not 0 < value <= 1:
        return "is not in (0, 1]"
    if value < MIN_PROPENSITY:
        return f"is below {MIN_PROPENSITY:.0e} (an importance weight over 1e+12 swamps every estimate)"
    return None


def parse_time(value: Any) -> float | None:
    """Seconds from a number or an ISO-8601 string (DSJSON's Timestamp); None when empty or neither
    (the readers refuse such a non-empty value as a bad line)."""
    if value is None or value == "":
        return None
    try:
        seconds = float(value)
        return seconds if math.isfinite(seconds) else None
    except (TypeError, ValueError):
        pass
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError):
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
