"""JSON lines, written atomically and read back with the line number in every error; `json_safe`,
the one way results become strict JSON (metrics.json, replay.json, evaluation.json)."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator

from safeio.atomic import write_text_atomic


def write_jsonl_atomic(path: str | os.PathLike, rows: Iterable[Any], *, mode: int | None = None) -> int:
    """Write one JSON document per line (UTF-8, NaN refused) via temp + rename; return the row count."""
    lines = [json.dumps(row, ensure_ascii=False, allow_nan=False) for row in rows]
    write_text_atomic(Path(path), "".join(line + "\n" for line in lines), mode=mode)
    return len(lines)


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, Any]]:
    """Yield (line number, document) for each non-blank line; ValueError names the bad line."""
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not a JSON line ({exc.msg})") from None


def json_safe(obj: Any) -> Any:
    """`obj` as strict JSON values: numpy scalars to Python, NaN/inf to null, tuples to lists, keys
    to strings (json.dumps would otherwise write NaN, which strict readers refuse)."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    np = sys.modules.get("numpy")  # a numpy scalar exists only if numpy is loaded: safeio never imports it
    if np is not None and isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj
