"""A decision log opened for replay: format detection, the reader registry, LogSource and bad lines.

A reader is a class registered here under a format name; `open_log` builds the reader first and the
LogSource with it. Readers stream EventBatch objects of at most `chunk_size` events, so a log larger
than memory is never held whole, and a LogSource can be read several times (the reward model and
the policies each make a pass).
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence

from simulations.ope.choices import FORMATS
from simulations.ope.errors import OPEError
from simulations.ope.readers.events import EventBatch, ReplayEvent

# format -> "module:class"; imported only when a log of that format is opened
READERS: dict[str, str] = {
    "sqlite": "simulations.ope.readers.sqlite:SqliteReader",
    "dsjson": "simulations.ope.readers.dsjson:DsjsonReader",
    "csv": "simulations.ope.readers.tablelog:TableReader",
    "jsonl": "simulations.ope.readers.tablelog:TableReader",
    "parquet": "simulations.ope.readers.tablelog:TableReader",
}


@dataclass
class ColumnMapping:
    """Which columns of a generic CSV/JSONL/Parquet log hold what.

    context_cols are names or glob patterns; empty means every column not mapped to something else.
    Without candidates_col the candidate set of every event is all actions seen in the log (sorted).
    """

    action_col: str = "action"
    reward_col: str = "reward"
    propensity_col: str | None = "propensity"
    context_cols: Sequence[str] = ()
    candidates_col: str | None = None
    timestamp_col: str | None = None
    action_features: str | Path | None = None
    action_key: str = "action"
    position_col: str | None = None  # slate logs: each row's slot (1-based); weights become position-aware


class BadLines:
    """Malformed lines of one pass over a log: skipped and counted up to `limit`, then an error.

    limit 0 (the default) stops at the first one, naming the file and the line."""

    EXAMPLES = 10

    def __init__(self, limit: int = 0) -> None:
        if limit < 0:
            raise OPEError(f"max bad lines must be >= 0, not {limit}")
        self.limit = limit
        self.count = 0
        self.examples: list[str] = []

    def reset(self) -> None:
        self.count = 0
        self.examples = []

    def add(self, where: str, message: str) -> None:
        """Count one bad line at `where` ("file:line" or "file: row N"), or raise if over the limit."""
        text = f"{where}: {message}"
        if self.count >= self.limit:
            if self.limit:
                text += f" (more than --max-bad-lines {self.limit} bad lines)"
            raise OPEError(text)
        self.count += 1
        if len(self.examples) < self.EXAMPLES:
            self.examples.append(text)

    def to_dict(self) -> dict:
        return {"count": self.count, "limit": self.limit, "examples": list(self.examples)}


class Reader(Protocol):
    """What a format's reader provides (built by open_log with the path, mapping, notes and bad lines)."""

    def batches(self, size: int, need_events: bool) -> Iterator[EventBatch]: ...

    def approx_events(self) -> int: ...


@dataclass
class LogSource:
    """A re-readable decision log: `batches()` streams it; `notes` collects data-quality remarks."""

    path: Path
    format: str
    mapping: ColumnMapping
    reader: Reader
    chunk_size: int = 10_000
    notes: list[str] = field(default_factory=list)
    bad_lines: BadLines = field(default_factory=BadLines)
    window: tuple[float | None, float | None] | None = None  # (since, until) seconds: open_log's window

    def batches(self, need_events: bool = True) -> Iterator[EventBatch]:
        """Stream the log as EventBatches in file (time) order; events only when need_events.

        Each pass counts its own bad lines (the last complete pass is what replay.json reports)."""
        self.bad_lines.reset()
        return self.reader.batches(self.chunk_size, need_events)

    def chunks(self) -> Iterator[list[ReplayEvent]]:
        """Stream the log as lists of ReplayEvents in file (time) order."""
        for batch in self.batches(True):
            if batch.events:
                yield batch.events

    def approx_events(self) -> int:
        """A cheap event count for progress bars (lines of a text log, rows of SQLite/Parquet)."""
        try:
            return self.reader.approx_events()
        except Exception:  # noqa: BLE001 - only a progress hint; the real read reports errors
            return 0

    def __iter__(self) -> Iterator[ReplayEvent]:
        for chunk in self.chunks():
            yield from chunk


def count_lines(path: Path, header: bool = False) -> int:
    """Lines of a text file (minus a header), a progress-bar estimate: counted up to 8 MB, beyond that
    extrapolated from the first 8 MB (reading a 500 MB log only to size a bar cost ~1 s)."""
    sample = 8 << 20
    size = path.stat().st_size
    with open(path, "rb") as fh:
        block = fh.read(sample)
    lines = block.count(b"\n")
    if size > sample and lines:
        lines = round(lines * size / len(block))
    return max(1, lines - header)


def text_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of every non-blank line of a JSON-lines file; a UTF-8 BOM is dropped.

    Bytes, not text: each reader decodes a line itself, so one bad byte is one bad line."""
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if raw.strip():
                yield lineno, raw


def not_utf8(raw: bytes, exc: UnicodeDecodeError) -> str:
    """What a bad-line message says about a line that is not UTF-8: the first bad byte and its column."""
    return f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"


def reader_class(fmt: str) -> Any:
    module, _, name = READERS[fmt].partition(":")
    return getattr(importlib.import_module(module), name)


def open_log(
    path: str | Path,
    fmt: str = "auto",
    mapping: ColumnMapping | None = None,
    *,
    chunk_size: int = 10_000,
    max_bad_lines: int = 0,
    window: tuple[float | None, float | None] | None = None,
) -> LogSource:
    """A LogSource for `path`; fmt 'auto' guesses from the extension and the first bytes.

    max_bad_lines: malformed lines skipped and counted (source.bad_lines) before the read stops.
    window: (since, until) in seconds since the epoch: only events logged at since <= time < until
    (either may be None). artbandit's SQLite log only, which records each event's time."""
    path = Path(path)
    if not path.is_file():
        raise OPEError(f"{path}: no such log file")
    if fmt not in FORMATS:
        raise OPEError(f"unknown log format {fmt!r}; valid: {', '.join(FORMATS)}")
    if fmt == "auto":
        fmt = detect_format(path)
    mapping = mapping or ColumnMapping()
    if mapping.position_col and fmt in ("sqlite", "dsjson"):
        raise OPEError(f"{path}: --position-col applies to CSV, JSONL and Parquet logs, not {fmt}")
    notes: list[str] = []
    bad = BadLines(max_bad_lines)
    if window is not None and fmt != "sqlite":
        raise OPEError(f"{path}: a time window applies to artbandit's SQLite event log, not {fmt}")
    extra = {"window": window} if window is not None else {}
    reader = reader_class(fmt)(path, fmt, mapping, notes, bad, **extra)
    return LogSource(path, fmt, mapping, reader, chunk_size, notes, bad, window)


def detect_format(path: Path) -> str:
    """Guess a log's format: SQLite magic, Parquet magic, extension, then the first JSON line's keys."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head.startswith(b"SQLite format 3\x00"):
        return "sqlite"
    if head.startswith(b"PAR1"):
        return "parquet"
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".sqlite", ".db", ".sqlite3"):
        return "sqlite"
    if suffix == ".parquet":
        return "parquet"
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        first = fh.readline(1 << 20).strip()
    if first.startswith("{"):
        try:
            obj = json.loads(first)
        except json.JSONDecodeError as exc:
            raise OPEError(f"{path}:1: first line is not valid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise OPEError(f"{path}:1: first line is not a JSON object")
        if "_label_cost" in obj or ("c" in obj and isinstance(obj.get("c"), dict) and "_multi" in obj["c"]):
            return "dsjson"
        return "jsonl"
    if "," in first and "\ufffd" not in first:
        return "csv"
    raise OPEError(f"{path}: cannot tell the log format (not SQLite, Parquet, JSON lines or CSV text); pass --format")
