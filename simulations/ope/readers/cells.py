"""Cells of generic table logs turned into values: numbers (one column at a time, with pyarrow when it
can), candidate-id lists, and the context / action-feature dicts policies see."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Callable, Sequence

import numpy as np

from simulations.ope.errors import OPEError
from simulations.ope.readers.jsonvalues import DEFAULT_NAMESPACE, finite_number, flatten, is_nested_list


def _bits(buffer: Any, offset: int, n: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(buffer, dtype=np.uint8), bitorder="little")[offset : offset + n].astype(bool)


def numpy_of(arr: Any) -> tuple[np.ndarray, np.ndarray]:
    """(values, null mask) of a pyarrow array of numbers or booleans, read from its buffers.

    Why not Array.to_numpy: it imports pandas on first use (1-2 s, more than reading a 100 MB log)."""
    import pyarrow as pa

    n, t = len(arr), arr.type
    validity, data = arr.buffers()[0], arr.buffers()[1]
    nulls = ~_bits(validity, arr.offset, n) if arr.null_count and validity is not None else np.zeros(n, dtype=bool)
    if pa.types.is_boolean(t):
        return _bits(data, arr.offset, n), nulls
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        kind = "f" if pa.types.is_floating(t) else "i" if pa.types.is_signed_integer(t) else "u"
        dtype = np.dtype(f"{kind}{t.bit_width // 8}")
        return np.frombuffer(data, dtype=dtype, count=arr.offset + n)[arr.offset :], nulls
    return arr.to_numpy(zero_copy_only=False), nulls  # dates, decimals: rare in a decision log


def blank_strings(arr: Any) -> np.ndarray:
    """Which values of a string array are '' or null (from its offsets buffer, without pandas)."""
    import pyarrow as pa

    n = len(arr)
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(arr.buffers()[1], dtype=width, count=arr.offset + n + 1)[arr.offset :]
    blank = np.diff(offsets) == 0
    return blank | numpy_of_nulls(arr)


def numpy_of_nulls(arr: Any) -> np.ndarray:
    validity = arr.buffers()[0]
    if not arr.null_count or validity is None:
        return np.zeros(len(arr), dtype=bool)
    return ~_bits(validity, arr.offset, len(arr))


def codes_of(indices: Any) -> np.ndarray:
    """Dictionary indices as int64, -1 for nulls."""
    codes, nulls = numpy_of(indices)
    codes = codes.astype(np.int64)
    codes[nulls] = -1
    return codes


def is_nested_type(arrow_type: Any) -> bool:
    import pyarrow.types as pt

    return pt.is_nested(arrow_type)


def as_list(col: Any) -> list:
    return col.to_pylist() if hasattr(col, "to_pylist") else col


def _value(value: Any) -> float | None:
    """A reward, propensity or time cell as a finite number (JSON true/false count as 1/0)."""
    return float(value) if isinstance(value, bool) else finite_number(value)


def floats(col: Any) -> tuple[np.ndarray, np.ndarray]:
    """(values, empty) of a column: NaN where a value is not a finite number; empty: null or ''."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if isinstance(col, pa.Array):
        if is_nested_type(col.type):
            return np.full(len(col), np.nan), np.zeros(len(col), dtype=bool)
        slow = False
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            empty = blank_strings(col)
            slow = bool(empty.any())  # '' cannot be cast, and filling it in needs a pyarrow scalar (pandas)
        if not slow:
            try:
                vals, nulls = numpy_of(pc.cast(col, pa.float64()))
                empty = nulls
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # text, ' 2': one value at a time
                slow = True
        if slow:
            values = col.to_pylist()
            empty = np.array([v is None or v == "" for v in values], dtype=bool)
            vals = np.array([0.0 if e else _value(v) for v, e in zip(values, empty)], dtype=np.float64)
        vals = np.where(np.isfinite(vals), vals, np.nan)
        return np.where(empty, 0.0, vals), empty
    empty = np.array([v is None or v == "" for v in col], dtype=bool)
    vals = np.array([0.0 if e else _value(v) for v, e in zip(col, empty)], dtype=np.float64)
    return vals, empty


def split_list(value: Any) -> list[str]:
    """A candidates cell: a JSON list, a list, or ids separated by | ; or spaces."""
    if isinstance(value, (list, tuple)):
        if is_nested_list(list(value)):
            raise OPEError("the candidates list holds nested values, not action ids")
        return [str(v) for v in value]
    text = str(value).strip()
    if text.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError:
            items = None
        if isinstance(items, list):
            return split_list(items)
    for sep in ("|", ";", " ", ","):
        if sep in text:
            return [t for t in (s.strip() for s in text.split(sep)) if t]
    return [text] if text else []


def parses_as_number(v: Any) -> bool:
    try:
        float(v)
        return not isinstance(v, (bool, dict, list))
    except (TypeError, ValueError):
        return False


def shown(v: Any) -> str:
    """A cell as error messages quote it (CSV cells are text, so '1.5' shows as it was written)."""
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


@lru_cache(maxsize=1 << 16)  # asked per feature per event when importance hides a group
def column_group(name: str) -> str:
    """The group a flat column belongs to: its name without a trailing number and separator, so
    user_feature_0..3 are one group 'user_feature' and 'age' its own (feature importance, the notes)."""
    stem = name.rstrip("0123456789")
    stem = stem.rstrip("_-. ") if stem != name else stem
    return stem or name


def column_groups(columns: Sequence[str]) -> dict[str, list[str]]:
    """Columns by column_group, in first-seen order."""
    groups: dict[str, list[str]] = {}
    for c in columns:
        groups.setdefault(column_group(c), []).append(c)
    return groups


def column_types(sample: dict[str, list]) -> dict[str, bool]:
    """Per column: numeric when every non-empty sampled value parses as a number (and none is nested)."""
    types = {}
    for c, values in sample.items():
        vals = [v for v in values if v not in (None, "")]
        types[c] = (
            bool(vals)
            and not any(isinstance(v, (dict, list)) for v in vals)
            and all(finite_number(v) is not None for v in vals)
        )
    return types


def flat_features(row: dict, columns: list[str], numeric: dict[str, bool]) -> dict:
    """One action's features as a flat dict (objects and lists flattened into dotted names)."""
    out: dict[str, float | str] = {}
    for c in columns:
        v = row.get(c)
        if v is None or v == "":
            continue
        if isinstance(v, dict):
            out.update({f"{c}.{k}": x for k, x in flatten(v).items()})
        elif isinstance(v, list):
            if is_nested_list(v):
                raise OPEError(f"action feature {c!r} holds a nested list, not a feature value")
            out.update({f"{c}{k}": x for k, x in flatten(v).items()})
        elif numeric.get(c):
            num = finite_number(v)
            out[c] = num if num is not None else str(v)
        else:
            out[c] = str(v).lower() if isinstance(v, bool) else str(v)
    return out


def context_builder(columns: list[str], numeric: dict[str, bool]) -> Callable[[Sequence], dict]:
    """row (values of `columns`) -> namespaced context, with each column's namespace and type decided once.

    A column 'ns.name' goes to namespace ns, others to 'context'; a JSON object (in JSONL, Parquet, or
    written into a CSV cell) is a namespace named after its column, an object of objects a whole context."""
    plan = []
    for i, c in enumerate(columns):
        ns, _, name = c.rpartition(".")
        plan.append((i, c, ns or DEFAULT_NAMESPACE, name, bool(numeric.get(c))))

    def build(row: Sequence) -> dict:
        out: dict[str, dict] = {}
        for i, col, ns, name, is_num in plan:
            v = row[i]
            if v is None or v == "":
                continue
            tv = type(v)
            if tv is str and v[0] == "{" and not is_num:  # a JSON object written into a CSV cell
                try:
                    v = json.loads(v)
                    tv = type(v)
                except json.JSONDecodeError:
                    pass
            if tv is dict:  # a JSON object column is a namespace of its own
                if v and all(type(x) is dict for x in v.values()):
                    for k, x in v.items():  # {"ns": {...}, ...}: a whole context in one column
                        out.setdefault(k, {}).update(flatten(x))
                    continue
                out.setdefault(col, {}).update(flatten(v))
                continue
            if tv is list:
                if is_nested_list(v):
                    raise OPEError(f"column {col!r} holds a nested list where a feature value is expected")
                out.setdefault(ns, {}).update({f"{name}{k}": x for k, x in flatten(v).items()})
                continue
            if is_num:
                try:
                    v = float(v)
                except (TypeError, ValueError):
                    v = str(v)
            elif tv is not str:
                v = str(v).lower() if tv is bool else str(v)
            d = out.get(ns)
            if d is None:
                d = out[ns] = {}
            d[name] = v
        return out

    return build
