"""safeio.jsonl.json_safe: the one way results become strict JSON (issue 29: it had two homes that
disagreed on tuples and numpy scalars)."""

from __future__ import annotations

import json
import math

import numpy as np

from safeio.jsonl import json_safe


def test_json_safe_makes_strict_json_of_numpy_tuples_and_non_finite_numbers() -> None:
    obj = {
        1: (np.float64(0.5), math.nan),
        "b": [np.int64(3), np.bool_(True), -math.inf, np.float32("nan")],
        "s": np.str_("x"),
    }
    safe = json_safe(obj)
    assert safe == {"1": [0.5, None], "b": [3, True, None, None], "s": "x"}
    assert [type(v) for v in safe["b"][:2]] == [int, bool]
    assert json.loads(json.dumps(safe, allow_nan=False)) == safe
