"""Decision-log readers for replay: one module per format behind a small registry (source.py).

- events.py: ReplayEvent (one decision) and EventBatch (decisions as numpy columns);
- source.py: open_log, format detection, the reader registry, LogSource, bad-line counting;
- sqlite.py (artbandit's event log), dsjson.py (VW DSJSON), tablelog.py (a decision log in a CSV/
  JSONL/Parquet table, mapped by a ColumnMapping) with tablefile.py (reading a table file's columns
  in batches), cells.py (cells as numbers, id lists and
  features) and jsonvalues.py (JSON values as features).
"""

from simulations.ope.readers.events import EventBatch, ReplayEvent
from simulations.ope.readers.jsonvalues import DEFAULT_NAMESPACE, flatten, namespaces, parse_time
from simulations.ope.readers.source import (
    FORMATS,
    READERS,
    BadLines,
    ColumnMapping,
    LogSource,
    detect_format,
    open_log,
)

__all__ = [
    "DEFAULT_NAMESPACE",
    "FORMATS",
    "READERS",
    "BadLines",
    "ColumnMapping",
    "EventBatch",
    "LogSource",
    "ReplayEvent",
    "detect_format",
    "flatten",
    "namespaces",
    "open_log",
    "parse_time",
]
