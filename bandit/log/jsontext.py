"""JSON decoding for artbandit's own event log and VW DSJSON: orjson (about 4x the standard library
on event rows), with the standard library as the fallback.

Why the fallback: orjson refuses what Python's json module accepts beyond the standard (NaN,
Infinity); a log another system wrote may hold them, and reading it must not start failing. Text
neither accepts still raises json.JSONDecodeError, as before.

Why only there: orjson reads integers over 64 bits as floats. In the log's contexts, pmfs and action
features, and in DSJSON features, numbers are feature values that VW reads as floats anyway (ids are
strings); in generic JSONL/CSV logs an integer may be an id, and two ids must never merge, so those
readers keep the standard library.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def loads(text: str | bytes) -> Any:
    """Decode one JSON document, like json.loads."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
