"""Streaming readers turning decision logs into ReplayEvents, in chunks, whatever system wrote them.

Formats: artbandit's SQLite event log (through bandit.EventLog), VW DSJSON, and generic CSV / JSONL /
Parquet logs whose columns are named by a ColumnMapping. Every reader yields lists of at most
`chunk_size` events, so a log larger than memory is never held whole; a LogSource can be read several
times (the reward model and the policies each make a pass).
"""
from __future__ import annotations

import csv
import fnmatch
import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from functools import partial
from typing import Any, Callable, Iterator, Sequence

from bandit import jsontext
from simulations.errors import SimulationError

FORMATS: tuple[str, ...] = ("auto", "sqlite", "dsjson", "csv", "jsonl", "parquet")
DEFAULT_NAMESPACE = "context"


class ReplayEvent:
    """One logged decision: what was shown (chosen_index into action_ids), with what probability, and the reward.

    `context` and `action_features` may be built lazily (from a thunk) on first access, and the logged
    pmf may arrive as JSON text (`pmf_text`) decoded on first access: estimating a context-free target
    (uniform, a fixed action) then never pays for parsing features or pmfs.
    """

    __slots__ = ("_context", "_make_context", "action_ids", "_features", "_make_features", "chosen_index",
                 "probability", "reward", "time", "_pmf", "_pmf_text")

    def __init__(
        self,
        context: dict | None,
        action_ids: list[str],
        action_features: list[dict] | None,
        chosen_index: int,
        probability: float,
        reward: float,
        time: float | None = None,
        pmf: list[float] | None = None,
        *,
        make_context: Callable[[], dict] | None = None,
        make_features: Callable[[], list[dict]] | None = None,
        pmf_text: str | None = None,
    ) -> None:
        self._context = context
        self._make_context = make_context
        self.action_ids = action_ids
        self._features = action_features
        self._make_features = make_features
        self.chosen_index = chosen_index
        self.probability = probability
        self.reward = reward
        self.time = time
        self._pmf = pmf
        self._pmf_text = pmf_text

    @property
    def pmf(self) -> list[float] | None:
        """The logging policy's full pmf over the candidates, or None when the log has none."""
        if self._pmf is None and self._pmf_text is not None:
            self._pmf = jsontext.loads(self._pmf_text) or None
            self._pmf_text = None
        return self._pmf

    def zero_logged(self) -> list[int] | None:
        """Indices of candidates the logger gave probability <= 0 (None: no pmf logged).

        Why: the zero-support diagnostic asks this of every event, and almost no logged pmf has a
        zero; JSON text without "0.0" as an entry and without a minus sign cannot have one, so
        the text is only decoded when it might."""
        text = self._pmf_text
        if text is not None and "-" not in text and "[0.0," not in text and ",0.0," not in text \
                and ",0.0]" not in text and text != "[0.0]":
            return [] if len(text) > 2 else None
        pmf = self.pmf
        return None if pmf is None else [i for i, p in enumerate(pmf) if p <= 0]

    @property
    def context(self) -> dict:
        c = self._context
        if c is None:
            c = self._context = self._make_context() if self._make_context else {}
        return c

    @property
    def action_features(self) -> list[dict]:
        f = self._features
        if f is None:
            f = self._features = self._make_features() if self._make_features else [{} for _ in self.action_ids]
        return f

    @property
    def actions(self) -> list[dict]:
        """The candidate list in bandit form: [{"id", "features"}]."""
        return [{"id": a, "features": f} for a, f in zip(self.action_ids, self.action_features)]

    def __repr__(self) -> str:
        return (f"ReplayEvent(actions={self.action_ids!r}, chosen={self.chosen_index}, "
                f"p={self.probability}, reward={self.reward})")


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


@dataclass
class LogSource:
    """A re-readable decision log: `chunks()` streams it; `notes` collects data-quality remarks."""

    path: Path
    format: str
    mapping: ColumnMapping = field(default_factory=ColumnMapping)
    chunk_size: int = 10_000
    notes: list[str] = field(default_factory=list)
    _reader: Any = None

    def chunks(self) -> Iterator[list[ReplayEvent]]:
        """Stream the log as lists of ReplayEvents in file (time) order."""
        return self._reader.chunks(self.chunk_size)

    def approx_events(self) -> int:
        """A cheap event count for progress bars (lines of a text log, rows of SQLite/Parquet)."""
        try:
            if self.format == "sqlite":
                from bandit import EventLog

                log = EventLog(self.path, readonly=True)
                try:
                    return len(log)
                finally:
                    log.close()
            if self.format == "parquet":
                import pyarrow.parquet as pq

                return int(pq.ParquetFile(self.path).metadata.num_rows)
            lines = 0
            with open(self.path, "rb") as fh:
                while block := fh.read(1 << 20):
                    lines += block.count(b"\n")
            return max(1, lines - (self.format == "csv"))
        except Exception:  # noqa: BLE001 - only a progress hint; the real read reports errors
            return 0

    def __iter__(self) -> Iterator[ReplayEvent]:
        for chunk in self.chunks():
            yield from chunk


def open_log(
    path: str | Path, fmt: str = "auto", mapping: ColumnMapping | None = None, *, chunk_size: int = 10_000
) -> LogSource:
    """A LogSource for `path`; fmt 'auto' guesses from the extension and the first bytes."""
    path = Path(path)
    if not path.is_file():
        raise SimulationError(f"{path}: no such log file")
    if fmt not in FORMATS:
        raise SimulationError(f"unknown log format {fmt!r}; valid: {', '.join(FORMATS)}")
    if fmt == "auto":
        fmt = detect_format(path)
    mapping = mapping or ColumnMapping()
    source = LogSource(path, fmt, mapping, chunk_size)
    readers = {
        "sqlite": SqliteReader,
        "dsjson": DsjsonReader,
        "csv": TableReader,
        "jsonl": TableReader,
        "parquet": TableReader,
    }
    source._reader = readers[fmt](source)
    return source


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
    with open(path, encoding="utf-8", errors="replace") as fh:
        first = fh.readline().strip()
    if first.startswith("{"):
        try:
            obj = json.loads(first)
        except json.JSONDecodeError as exc:
            raise SimulationError(f"{path}: first line is not valid JSON ({exc.msg})") from None
        if "_label_cost" in obj or ("c" in obj and isinstance(obj.get("c"), dict) and "_multi" in obj["c"]):
            return "dsjson"
        return "jsonl"
    if "," in first:
        return "csv"
    raise SimulationError(f"{path}: cannot tell the log format; pass --format")


# ---------------------------------------------------------------- artbandit SQLite


class SqliteReader:
    """artbandit's own event log, read through bandit.EventLog (one reader of that schema, not two)."""

    def __init__(self, source: LogSource) -> None:
        self.source = source
        self.missing_rewards = 0

    def chunks(self, size: int) -> Iterator[list[ReplayEvent]]:
        from bandit import EventLog

        try:
            log = EventLog(self.source.path, readonly=True)
        except Exception as exc:  # noqa: BLE001 - any failure to open is a bad-input error here
            raise SimulationError(f"{self.source.path}: not a readable artbandit event log ({exc})") from None
        missing = 0
        try:
            chunk: list[ReplayEvent] = []
            for t, ctx, ids, feats, pmf, chosen, p, reward in log.iter_outcomes(batch_size=size):
                if reward is None:
                    missing += 1
                    reward = 0.0
                if not ids or not 0 <= chosen < len(ids):
                    continue
                # ids not copied (the log shares one list per candidate set); context and pmf decoded
                # only if needed (see ReplayEvent)
                chunk.append(ReplayEvent(None, ids, feats, chosen, float(p), float(reward), t,
                                         make_context=partial(jsontext.loads, ctx), pmf_text=pmf))
                if len(chunk) >= size:
                    yield chunk
                    chunk = []
            if chunk:
                yield chunk
        finally:
            log.close()
        _note_missing(self.source, missing)


def _note_missing(source: LogSource, missing: int) -> None:
    note = f"{missing} events had no reward; counted as reward 0 (the default reward)"
    source.notes[:] = [n for n in source.notes if "had no reward" not in n]
    if missing:
        source.notes.append(note)


# ---------------------------------------------------------------- VW DSJSON


class DsjsonReader:
    """VW decision-service JSON (one cb_explore_adf decision per line, cost = -reward).

    `_labelIndex` (0-based) or `_label_Action` (1-based) is the chosen action, `_label_probability` its
    probability, `a`/`p` the ranking and its probabilities; action ids come from `id` or `_tag` in each
    `c._multi` entry (else `a<index>`). Reward-only lines (no `c`) are skipped.
    """

    def __init__(self, source: LogSource) -> None:
        self.source = source

    def chunks(self, size: int) -> Iterator[list[ReplayEvent]]:
        path = self.source.path
        chunk: list[ReplayEvent] = []
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    obj = jsontext.loads(line)
                except json.JSONDecodeError as exc:
                    raise SimulationError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from None
                ev = self._event(obj, path, lineno)
                if ev is None:
                    continue
                chunk.append(ev)
                if len(chunk) >= size:
                    yield chunk
                    chunk = []
        if chunk:
            yield chunk

    @staticmethod
    def _event(obj: dict, path: Path, lineno: int) -> ReplayEvent | None:
        c = obj.get("c")
        if not isinstance(c, dict) or obj.get("_skipLearn"):
            return None
        multi = c.get("_multi")
        if not isinstance(multi, list) or not multi:
            raise SimulationError(f"{path}:{lineno}: DSJSON line without c._multi actions")
        try:
            if "_labelIndex" in obj:
                chosen = int(obj["_labelIndex"])
            else:
                chosen = int(obj["_label_Action"]) - 1
            prob = float(obj["_label_probability"])
            reward = -float(obj["_label_cost"])
        except (KeyError, TypeError, ValueError):
            raise SimulationError(
                f"{path}:{lineno}: DSJSON line needs _label_cost, _label_probability and _labelIndex/_label_Action"
            ) from None
        if not 0 <= chosen < len(multi):
            raise SimulationError(f"{path}:{lineno}: chosen action {chosen + 1} outside the {len(multi)} actions")
        if not 0 < prob <= 1:
            raise SimulationError(f"{path}:{lineno}: probability {prob} outside (0, 1]")
        ids = [_dsjson_action_id(action, i) for i, action in enumerate(multi)]
        make_context = partial(_dsjson_context, c)
        make_features = partial(_dsjson_features, multi)
        pmf = None
        a, p = obj.get("a"), obj.get("p")
        if isinstance(a, list) and isinstance(p, list) and len(a) == len(p) == len(multi):
            pmf = [0.0] * len(multi)
            for act, pr in zip(a, p):
                if 1 <= int(act) <= len(multi):
                    pmf[int(act) - 1] = float(pr)
        ts = obj.get("Timestamp")
        return ReplayEvent(None, ids, None, chosen, prob, reward, parse_time(ts) if ts else None, pmf,
                           make_context=make_context, make_features=make_features)


def _dsjson_action_id(action: Any, i: int) -> str:
    """`id` or `_tag`, else an indicator feature "id=<id>" (artbandit's export), else a<index>."""
    if isinstance(action, dict):
        aid = action.get("id", action.get("_tag"))
        if aid is not None:
            return str(aid)
        for values in action.values():
            if isinstance(values, dict):
                for key in values:
                    if key.startswith("id="):
                        return key[3:]
    return f"a{i}"


def _dsjson_context(c: dict) -> dict:
    context = namespaces({k: v for k, v in c.items() if not k.startswith("_")})
    if context and all(ns.startswith("c_") for ns in context):  # artbandit's export: "c_<namespace>"
        context = {ns[2:]: f for ns, f in context.items()}
    return context


def _dsjson_action_features(action: Any) -> dict:
    action = action if isinstance(action, dict) else {"value": action}
    feat: dict[str, float | str] = {}
    for ns, values in namespaces({k: v for k, v in action.items() if k not in ("id", "_tag")}).items():
        for name, value in values.items():  # an action's features are one flat dict
            feat[name if name not in feat else f"{ns}.{name}"] = value
    feat.pop("id", None)
    return feat


_ACTION_CACHE: dict[str, tuple[Any, dict]] = {}


def _dsjson_features(multi: list) -> list[dict]:
    """Action features, flattened once per distinct action (logs repeat a title's variants)."""
    out = []
    for action in multi:
        key = json.dumps(action, sort_keys=True) if isinstance(action, dict) else repr(action)
        hit = _ACTION_CACHE.get(key)
        if hit is None:
            if len(_ACTION_CACHE) > 50_000:
                _ACTION_CACHE.clear()
            hit = _ACTION_CACHE[key] = (None, _dsjson_action_features(action))
        out.append(hit[1])
    return out


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


# ---------------------------------------------------------------- generic CSV / JSONL / Parquet


Table = tuple[list[str], list[Sequence[Any]]]  # (column names, rows as positional sequences)


def _table_csv(path: Path, size: int) -> Iterator[Table]:
    with open(path, newline="", encoding="utf-8") as fh:
        sample = fh.read(4096)
        fh.seek(0)
        delimiter = "\t" if path.suffix.lower() == ".tsv" or (sample.count("\t") > sample.count(",")) else ","
        reader = csv.reader(fh, delimiter=delimiter)
        header = next(reader, None)
        if not header:
            raise SimulationError(f"{path}: empty CSV (no header)")
        width = len(header)
        batch: list[Sequence[Any]] = []
        for row in reader:
            if len(row) != width:
                if not row:
                    continue
                row = (row + [""] * width)[:width]  # short/long lines: pad or cut, like DictReader
            batch.append(row)
            if len(batch) >= size:
                yield header, batch
                batch = []
        if batch:
            yield header, batch


def _table_jsonl(path: Path, size: int) -> Iterator[Table]:
    header: list[str] | None = None
    with open(path, encoding="utf-8") as fh:
        batch: list[Sequence[Any]] = []
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)  # not jsontext: exact ids (see bandit/jsontext.py)
            except json.JSONDecodeError as exc:
                raise SimulationError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise SimulationError(f"{path}:{lineno}: each JSONL line must be an object")
            if header is None:
                header = list(row)
            batch.append([row.get(c) for c in header])
            if len(batch) >= size:
                yield header, batch
                batch = []
        if batch and header is not None:
            yield header, batch


def _table_parquet(path: Path, size: int) -> Iterator[Table]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise SimulationError(
            f"{path}: reading Parquet needs pyarrow (pip install 'artbandit[parquet]')"
        ) from None
    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
        raise SimulationError(f"{path}: not a readable Parquet file ({exc})") from None
    for batch in pf.iter_batches(batch_size=size):
        yield batch.schema.names, list(zip(*(col.to_pylist() for col in batch.columns)))


TABLE_READERS = {"csv": _table_csv, "jsonl": _table_jsonl, "parquet": _table_parquet}


def _rows(fmt: str, path: Path, size: int) -> Iterator[list[dict]]:
    """The same tables as lists of dicts (for small tables and type sniffing)."""
    for header, rows in TABLE_READERS[fmt](path, size):
        yield [dict(zip(header, r)) for r in rows]




def _split_list(value: Any) -> list[str]:
    """A candidates cell: a JSON list, a list, or ids separated by | ; or spaces."""
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    text = str(value).strip()
    if text.startswith("["):
        try:
            return [str(v) for v in json.loads(text)]
        except json.JSONDecodeError:
            pass
    for sep in ("|", ";", " ", ","):
        if sep in text:
            return [t for t in (s.strip() for s in text.split(sep)) if t]
    return [text] if text else []


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


class TableReader:
    """CSV, JSONL and Parquet logs with one decision per row, mapped by a ColumnMapping.

    Column types are fixed from the first chunk: a column is numeric when all its values there parse
    as numbers, otherwise categorical (so hashed ids like '3e5a1f' never turn into floats midway).
    """

    def __init__(self, source: LogSource) -> None:
        self.source = source
        self.m = source.mapping
        self.table = TABLE_READERS[source.format]
        self._catalog: list[str] | None = None
        self._action_table = self._load_action_table() if self.m.action_features else {}

    # -- action features table
    def _load_action_table(self) -> dict[str, dict]:
        path = Path(self.m.action_features)  # type: ignore[arg-type]
        if not path.is_file():
            raise SimulationError(f"{path}: no such action-features file")
        fmt = "csv" if path.suffix.lower() in (".csv", ".tsv") else "parquet" if path.suffix == ".parquet" else "jsonl"
        table: dict[str, dict] = {}
        numeric: dict[str, bool] | None = None
        for batch in _rows(fmt, path, 10_000):
            if numeric is None:
                numeric = self._column_types(batch, [k for k in batch[0] if k != self.m.action_key])
            for row in batch:
                if self.m.action_key not in row:
                    raise SimulationError(f"{path}: no column {self.m.action_key!r} (--action-key)")
                key = str(row[self.m.action_key])
                table[key] = self._features(row, [k for k in row if k != self.m.action_key], numeric, flat=True)
        return table

    # -- column selection
    def _context_columns(self, columns: list[str]) -> list[str]:
        m = self.m
        mapped = {m.action_col, m.reward_col, m.propensity_col, m.candidates_col, m.timestamp_col}
        if not m.context_cols:
            return [c for c in columns if c not in mapped]
        chosen: list[str] = []
        for pattern in m.context_cols:
            hits = [c for c in columns if fnmatch.fnmatchcase(c, pattern) and c not in mapped]
            if not hits:
                raise SimulationError(f"{self.source.path}: --context-cols {pattern!r} matches no column")
            chosen += [c for c in hits if c not in chosen]
        return chosen

    @staticmethod
    def _column_types(batch: list[dict], columns: list[str]) -> dict[str, bool]:
        types = {}
        for c in columns:
            values = [row.get(c) for row in batch[:2000] if row.get(c) not in (None, "")]
            types[c] = bool(values) and all(
                _number(v) is not None for v in values if not isinstance(v, (dict, list))
            ) and not any(isinstance(v, (dict, list)) for v in values)
        return types

    @staticmethod
    def _features(row: dict, columns: list[str], numeric: dict[str, bool], flat: bool = False) -> dict:
        """Namespaced context (or a flat dict when flat): 'ns.feature' columns go to namespace ns."""
        out: dict[str, dict] = {}
        flat_out: dict[str, float | str] = {}
        for c in columns:
            v = row.get(c)
            if v is None or v == "":
                continue
            if isinstance(v, dict):
                if flat:
                    flat_out.update({f"{c}.{k}": x for k, x in flatten(v).items()})
                else:
                    out.setdefault(c, {}).update(flatten(v))
                continue
            if numeric.get(c):
                num = _number(v)
                val: float | str = num if num is not None else str(v)
            elif isinstance(v, list):
                if flat:
                    flat_out.update({f"{c}{k}": x for k, x in flatten(v).items()})
                else:
                    out.setdefault(DEFAULT_NAMESPACE, {}).update({f"{c}{k}": x for k, x in flatten(v).items()})
                continue
            else:
                val = str(v)
            if flat:
                flat_out[c] = val
            else:
                ns, _, name = c.rpartition(".")
                out.setdefault(ns or DEFAULT_NAMESPACE, {})[name] = val
        return flat_out if flat else out

    def catalog(self) -> list[str]:
        """All actions seen in the log (sorted): the candidate set when candidates are not logged."""
        if self._catalog is None:
            seen: set[str] = set()
            col = self.m.action_col
            for header, rows in self.table(self.source.path, 50_000):
                if col not in header:
                    raise SimulationError(f"{self.source.path}: no column {col!r} (--action-col)")
                i = header.index(col)
                for row in rows:
                    v = row[i]
                    if v is None or v == "":
                        raise SimulationError(f"{self.source.path}: row without a value in --action-col {col!r}")
                    seen.add(str(v))
            self._catalog = sorted(seen)
        return self._catalog

    @staticmethod
    def _context_builder(header: list[str], columns: list[str], numeric: dict[str, bool]) -> Callable[[Sequence], dict]:
        """row -> namespaced context, with each column's position, namespace and type decided once."""
        plan = []
        for c in columns:
            ns, _, name = c.rpartition(".")
            plan.append((header.index(c), c, ns or DEFAULT_NAMESPACE, name, bool(numeric.get(c))))

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
                            if type(x) is dict:
                                out.setdefault(k, {}).update(flatten(x))
                        continue
                    out.setdefault(col, {}).update(flatten(v))
                    continue
                if tv is list:
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

    def chunks(self, size: int) -> Iterator[list[ReplayEvent]]:
        m, path = self.m, self.source.path
        header: list[str] | None = None
        shared: tuple[list[str], dict[str, int], list[dict]] | None = None
        cand_cache: dict[Any, tuple[list[str], dict[str, int], list[dict]]] = {}
        table = self._action_table
        missing = 0
        rowno = 0
        last_time = -math.inf
        unordered = False
        for cols, rows in self.table(path, size):
            if header is None:
                header = cols
                for need, flag in ((m.action_col, "--action-col"), (m.reward_col, "--reward-col")):
                    if need not in header:
                        raise SimulationError(
                            f"{path}: no column {need!r} ({flag}); columns are {', '.join(header[:20])}"
                        )
                for opt, flag in (
                    (m.propensity_col, "--propensity-col"),
                    (m.candidates_col, "--candidates-col"),
                    (m.timestamp_col, "--timestamp-col"),
                ):
                    if opt and opt not in header and not (flag == "--propensity-col" and opt == "propensity"):
                        raise SimulationError(f"{path}: no column {opt!r} ({flag})")
                has_p = m.propensity_col in header
                if not has_p:
                    self._note("no propensity column: the logger is assumed uniform over each candidate set")
                ctx_cols = self._context_columns(header)
                sample = [dict(zip(header, r)) for r in rows[:2000]]
                build = self._context_builder(header, ctx_cols, self._column_types(sample, ctx_cols))
                ai, ri = header.index(m.action_col), header.index(m.reward_col)
                pi = header.index(m.propensity_col) if has_p else -1
                ci = header.index(m.candidates_col) if m.candidates_col else -1
                ti = header.index(m.timestamp_col) if m.timestamp_col else -1
                if ci < 0:
                    ids = self.catalog()
                    shared = (ids, {a: i for i, a in enumerate(ids)}, [table.get(a, {}) for a in ids])
            elif cols != header:
                raise SimulationError(f"{path}: the columns change inside the file")
            out: list[ReplayEvent] = []
            append = out.append
            for row in rows:
                rowno += 1
                action = row[ai]
                if type(action) is not str:
                    action = "" if action is None else str(action)
                if shared is not None:
                    ids, index, feats = shared
                else:
                    raw = row[ci]
                    key = raw if type(raw) is str else tuple(raw) if isinstance(raw, (list, tuple)) else str(raw)
                    hit = cand_cache.get(key)
                    if hit is None:
                        cids = _split_list("" if raw is None else raw)
                        if len(cand_cache) > 10_000:
                            cand_cache.clear()
                        hit = cand_cache[key] = (cids, {a: i for i, a in enumerate(cids)}, [table.get(a, {}) for a in cids])
                    ids, index, feats = hit
                chosen = index.get(action)
                if chosen is None:
                    raise SimulationError(f"{path}: row {rowno}: action {action!r} is not among its candidates")
                rv = row[ri]
                try:
                    r = float(rv)
                    if r != r or r in (math.inf, -math.inf):
                        raise ValueError
                except (TypeError, ValueError):
                    if rv not in (None, ""):
                        raise SimulationError(f"{path}: row {rowno}: reward {rv!r} is not a number") from None
                    missing += 1
                    r = 0.0
                if pi >= 0:
                    pv = row[pi]
                    try:
                        p = float(pv)
                    except (TypeError, ValueError):
                        p = -1.0
                    if not 0 < p <= 1:
                        raise SimulationError(f"{path}: row {rowno}: propensity {pv!r} is not in (0, 1]")
                else:
                    p = 1.0 / len(ids)
                t = None
                if ti >= 0:
                    t = parse_time(row[ti])
                    if t is not None:
                        if t < last_time:
                            unordered = True
                        last_time = t
                append(ReplayEvent(None, ids, feats, chosen, p, r, t, None, make_context=partial(build, row)))
            if out:
                yield out
        if header is None:
            raise SimulationError(f"{path}: the log has no events")
        _note_missing(self.source, missing)
        if unordered:
            self._note(f"{path}: timestamps are not in order; events were replayed in file order")

    def _note(self, text: str) -> None:
        if text not in self.source.notes:
            self.source.notes.append(text)
