"""Generic CSV, JSONL and Parquet decision logs (one decision per row), mapped by a ColumnMapping.

Columnar: only the mapped columns are read (contexts too only when a policy asks for events), and
rewards, propensities and chosen indices are converted per batch with pyarrow/numpy; a row that does
not convert is found afterwards and reported (or skipped and counted) with its row or line number.
Column types of contexts are fixed from the first batch: a column is numeric when all its values
there parse as numbers, otherwise categorical (so hashed ids like '3e5a1f' never turn into floats).
"""
from __future__ import annotations

import fnmatch
import json
import math
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from simulations.ope.errors import OPEError
from simulations.ope.readers.events import EventBatch, ReplayEvent
from simulations.ope.readers.jsonvalues import DEFAULT_NAMESPACE, flatten, is_nested_list, parse_time
from simulations.ope.readers.source import BadLines, ColumnMapping, count_lines
from simulations.ope.readers.sqlite import note_missing
from simulations.ope.readers.tables import RawBatch, TableFile, rows_of


def _nested(arrow_type: Any) -> bool:
    import pyarrow.types as pt

    return pt.is_nested(arrow_type)


def _python(col: Any) -> list:
    return col.to_pylist() if hasattr(col, "to_pylist") else col


def _number(value: Any) -> float | None:
    """A finite number from a cell, else None (booleans and nested values are not numbers)."""
    if isinstance(value, (bool, dict, list)):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _value(value: Any) -> float | None:
    """A reward, propensity or time cell as a finite number (JSON true/false count as 1/0)."""
    return float(value) if isinstance(value, bool) else _number(value)


def floats(col: Any) -> tuple[np.ndarray, np.ndarray]:
    """(values, empty) of a column: NaN where a value is not a finite number; empty: null or ''."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(col, (pa.Array, pa.ChunkedArray)):
        if _nested(col.type):
            return np.full(len(col), np.nan), np.zeros(len(col), dtype=bool)
        empty = col.is_null().to_numpy(zero_copy_only=False)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            blank = pc.equal(col, "").fill_null(True).to_numpy(zero_copy_only=False)
            empty = empty | blank
            try:
                vals = pc.cast(pc.if_else(blank, "0", col), pa.float64()).to_numpy(zero_copy_only=False)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # text, ' 2': one value at a time
                vals = np.array([_value(v) if v not in (None, "") else 0.0 for v in col.to_pylist()],
                                dtype=np.float64)
        else:
            try:
                vals = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                vals = np.array([_value(v) for v in col.to_pylist()], dtype=np.float64)
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


class TableReader:
    """CSV, JSONL and Parquet logs with one decision per row, mapped by a ColumnMapping."""

    def __init__(self, path: Path, fmt: str, mapping: ColumnMapping, notes: list[str], bad: BadLines) -> None:
        self.path, self.fmt, self.m, self.notes, self.bad = path, fmt, mapping, notes, bad
        self.table = TableFile(path, fmt, bad)
        self._catalog: list[str] | None = None
        self._action_table = self._load_action_table() if mapping.action_features else {}

    def approx_events(self) -> int:
        if self.fmt == "parquet":
            return int(self.table._parquet().metadata.num_rows)
        return count_lines(self.path, header=self.fmt == "csv")

    # -- columns
    def _header(self) -> list[str]:
        m, header = self.m, self.table.names()
        for need, flag in ((m.action_col, "--action-col"), (m.reward_col, "--reward-col")):
            if need not in header:
                raise OPEError(f"{self.path}: no column {need!r} ({flag}); columns are {', '.join(header[:20])}")
        for opt, flag in ((m.propensity_col, "--propensity-col"), (m.candidates_col, "--candidates-col"),
                          (m.timestamp_col, "--timestamp-col")):
            if opt and opt not in header and not (flag == "--propensity-col" and opt == "propensity"):
                raise OPEError(f"{self.path}: no column {opt!r} ({flag})")
        return header

    def _context_columns(self, columns: list[str]) -> list[str]:
        m = self.m
        mapped = {m.action_col, m.reward_col, m.propensity_col, m.candidates_col, m.timestamp_col}
        if not m.context_cols:
            return [c for c in columns if c not in mapped]
        chosen: list[str] = []
        for pattern in m.context_cols:
            hits = [c for c in columns if fnmatch.fnmatchcase(c, pattern) and c not in mapped]
            if not hits:
                raise OPEError(f"{self.path}: --context-cols {pattern!r} matches no column")
            chosen += [c for c in hits if c not in chosen]
        return chosen

    def _ids(self, raw: RawBatch, name: str) -> tuple[np.ndarray, list[str]]:
        """(code per row into uniques, uniques) of an id column; code -1: empty or nested (bad row)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        col = raw.columns[name]
        if isinstance(col, pa.Array):
            if _nested(col.type):
                raise OPEError(f"{self.path}: column {name!r} holds nested values ({col.type}), "
                               "not action ids")
            if not pa.types.is_string(col.type):
                col = pc.cast(col, pa.string())
            enc = col.dictionary_encode()
            uniq = enc.dictionary.to_pylist()
            codes = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
            if "" in uniq:
                codes[codes == uniq.index("")] = -1
            return codes, uniq
        index: dict[str, int] = {}
        codes = np.empty(len(col), dtype=np.int64)
        for i, v in enumerate(col):
            if v is None or v == "" or isinstance(v, (dict, list)):
                codes[i] = -1
                continue
            key = v if type(v) is str else str(v).lower() if isinstance(v, bool) else str(v)
            codes[i] = index.setdefault(key, len(index))
        return codes, list(index)

    def catalog(self) -> list[str]:
        """All actions seen in the log (sorted): the candidate set when candidates are not logged."""
        if self._catalog is None:
            seen: set[str] = set()
            for raw in self.table.batches([self.m.action_col], 50_000):
                seen.update(u for u in self._ids(raw, self.m.action_col)[1] if u)
            self.bad.reset()  # this pass only looked at one column; the event pass reports bad lines
            self._catalog = sorted(seen)
        return self._catalog

    def _candidate_sets(self, raw: RawBatch, keep: np.ndarray) -> tuple[list[list[str]], np.ndarray]:
        """(distinct candidate lists, which one per row) from the candidates column."""
        import pyarrow as pa

        col = raw.columns[self.m.candidates_col]
        sets: list[list[str]] = []
        if isinstance(col, pa.Array) and pa.types.is_string(col.type):
            enc = col.dictionary_encode()
            idx = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
            cells = enc.dictionary.to_pylist()
        else:
            values = _python(col)
            lookup: dict[Any, int] = {}
            idx = np.empty(len(values), dtype=np.int64)
            cells = []
            for i, v in enumerate(values):
                key = tuple(v) if isinstance(v, list) else v
                try:
                    j = lookup.get(key)
                except TypeError:  # a list of objects: unhashable, and not a candidates list anyway
                    j, key = None, repr(key)
                if j is None:
                    j = lookup[key] = len(cells)
                    cells.append(v)
                idx[i] = j
        bad_sets: dict[int, str] = {}
        for j, cell in enumerate(cells):
            try:
                sets.append(split_list("" if cell is None else cell))
            except OPEError as exc:
                sets.append([])
                bad_sets[j] = str(exc)
        for i in np.flatnonzero(idx < 0):
            idx[i] = len(sets)
        if (idx == len(sets)).any():
            sets.append([])
        for i in np.flatnonzero(np.isin(idx, list(bad_sets))) if bad_sets else ():
            self._bad(raw, keep, int(i), bad_sets[int(idx[i])])
        return sets, idx

    def _bad(self, raw: RawBatch, keep: np.ndarray, i: int, message: str) -> None:
        if keep[i]:
            keep[i] = False
            self.bad.add(raw.where(self.path, i), message)

    # -- events
    def batches(self, size: int, need_events: bool) -> Iterator[EventBatch]:
        m = self.m
        header = self._header()
        has_p = m.propensity_col in header
        if not has_p:
            self._note("no propensity column: the logger is assumed uniform over each candidate set")
        ctx_cols = self._context_columns(header) if need_events else []
        wanted = list(dict.fromkeys(c for c in (m.action_col, m.reward_col, m.propensity_col if has_p else None,
                                                m.candidates_col, m.timestamp_col, *ctx_cols) if c))
        shared = None
        if not m.candidates_col:
            ids = self.catalog()
            shared = ([ids], {a: i for i, a in enumerate(ids)})
        state = {"missing": 0, "last_time": -math.inf, "unordered": False, "rows": 0, "build": None}
        for raw in self.table.batches(wanted, size):
            state["rows"] += raw.size
            batch = self._convert(raw, shared, has_p, ctx_cols if need_events else None, state)
            if len(batch):
                yield batch
        if not state["rows"]:
            raise OPEError(f"{self.path}: the log has no events")
        note_missing(self.notes, state["missing"])
        if state["unordered"]:
            self._note(f"{self.path}: timestamps are not in order; events were replayed in file order")

    def _convert(self, raw: RawBatch, shared: Any, has_p: bool, ctx_cols: list[str] | None, state: dict) -> EventBatch:
        m, n = self.m, raw.size
        keep = np.ones(n, dtype=bool)
        codes, uniq = self._ids(raw, m.action_col)
        if shared is not None:
            sets, index = shared
            set_index = np.zeros(n, dtype=np.int64)
            where_in = np.array([index.get(a, -1) for a in uniq] + [-1], dtype=np.int64)
            chosen = where_in[codes]  # code -1 picks the trailing -1
        else:
            sets, set_index = self._candidate_sets(raw, keep)
            chosen = self._chosen_in_sets(sets, set_index, codes, uniq)
        for i in np.flatnonzero(chosen < 0):
            if codes[i] < 0:
                self._bad(raw, keep, int(i), f"no action id in --action-col {m.action_col!r}")
            else:
                self._bad(raw, keep, int(i), f"action {uniq[codes[i]]!r} is not among its candidates")
        reward, empty = floats(raw.columns[m.reward_col])
        for i in np.flatnonzero(np.isnan(reward)):
            v = _python(raw.columns[m.reward_col][int(i):int(i) + 1])[0]
            kind = "not a finite number" if _parses(v) else "not a number"
            self._bad(raw, keep, int(i), f"reward {_shown(v)} is {kind}")
        state["missing"] += int(np.sum(empty & keep))
        n_cand = np.array([len(s) for s in sets] + [0], dtype=np.float64)[set_index]
        if has_p:
            prob, p_empty = floats(raw.columns[m.propensity_col])
            for i in np.flatnonzero(~((prob > 0) & (prob <= 1)) | p_empty):
                v = _python(raw.columns[m.propensity_col][int(i):int(i) + 1])[0]
                self._bad(raw, keep, int(i), f"propensity {_shown(v)} is not in (0, 1]")
        else:
            with np.errstate(divide="ignore"):
                prob = 1.0 / n_cand
        times = self._times(raw, keep, state) if m.timestamp_col else None
        events = None
        if ctx_cols is not None:
            events = self._events(raw, keep, ctx_cols, sets, set_index, chosen, prob, reward, times, state)
        sel = np.flatnonzero(keep)
        return EventBatch(reward=reward[sel], probability=prob[sel], chosen=chosen[sel], sets=sets,
                          set_index=set_index[sel], zero_count=np.full(len(sel), np.nan), events=events)

    @staticmethod
    def _chosen_in_sets(sets: list[list[str]], set_index: np.ndarray, codes: np.ndarray, uniq: list[str]) -> np.ndarray:
        """Index of each row's action in its own candidate set (-1: not there), per distinct pair."""
        n_uniq = len(uniq)
        key = set_index * (n_uniq + 1) + (codes + 1)
        pairs, inverse = np.unique(key, return_inverse=True)
        positions: dict[int, dict[str, int]] = {}
        out = np.empty(len(pairs), dtype=np.int64)
        for j, pair in enumerate(pairs.tolist()):
            s, code = divmod(pair, n_uniq + 1)
            if code == 0:
                out[j] = -1
                continue
            pos = positions.get(s)
            if pos is None:
                pos = positions[s] = {a: i for i, a in enumerate(sets[s])}
            out[j] = pos.get(uniq[code - 1], -1)
        return out[inverse]

    def _times(self, raw: RawBatch, keep: np.ndarray, state: dict) -> np.ndarray:
        col = raw.columns[self.m.timestamp_col]
        t, empty = floats(col)
        t[empty] = np.nan
        todo = np.flatnonzero(np.isnan(t) & ~empty)
        if len(todo):  # ISO 8601 text, one value at a time
            values = _python(col)
            for i in todo:
                v = parse_time(values[i])
                t[i] = np.nan if v is None else v
        seen = t[keep & ~np.isnan(t)]
        if len(seen):
            if seen[0] < state["last_time"] or np.any(np.diff(seen) < 0):
                state["unordered"] = True
            state["last_time"] = float(seen[-1])
        return t

    def _events(self, raw, keep, ctx_cols, sets, set_index, chosen, prob, reward, times, state) -> list[ReplayEvent]:
        columns = [_python(raw.columns[c]) for c in ctx_cols]
        if state["build"] is None:
            sample = {c: v[:2000] for c, v in zip(ctx_cols, columns)}
            state["build"] = context_builder(ctx_cols, column_types(sample))
        build = state["build"]
        feats = [[self._action_table.get(a, {}) for a in s] for s in sets]
        events = []
        for i, row in enumerate(zip(*columns)) if columns else enumerate([()] * raw.size):
            if not keep[i]:
                continue
            try:
                context = build(row)
            except OPEError as exc:
                self._bad(raw, keep, i, str(exc))
                continue
            s = set_index[i]
            t = None if times is None or np.isnan(times[i]) else float(times[i])
            events.append(ReplayEvent(context, sets[s], feats[s], int(chosen[i]), float(prob[i]),
                                      float(reward[i]), t))
        return events

    # -- action features table
    def _load_action_table(self) -> dict[str, dict]:
        path = Path(self.m.action_features)  # type: ignore[arg-type]
        if not path.is_file():
            raise OPEError(f"{path}: no such action-features file")
        fmt = "csv" if path.suffix.lower() in (".csv", ".tsv") else "parquet" if path.suffix == ".parquet" else "jsonl"
        key = self.m.action_key
        table: dict[str, dict] = {}
        numeric: dict[str, bool] | None = None
        for batch in rows_of(TableFile(path, fmt, BadLines(0))):
            if key not in batch[0]:
                raise OPEError(f"{path}: no column {key!r} (--action-key)")
            others = [k for k in batch[0] if k != key]
            if numeric is None:
                numeric = column_types({c: [r.get(c) for r in batch[:2000]] for c in others})
            for row in batch:
                table[str(row[key])] = flat_features(row, others, numeric)
        return table

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def _parses(v: Any) -> bool:
    try:
        float(v)
        return not isinstance(v, (bool, dict, list))
    except (TypeError, ValueError):
        return False


def _shown(v: Any) -> str:
    """A cell as error messages quote it (CSV cells are text, so '1.5' shows as it was written)."""
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def column_types(sample: dict[str, list]) -> dict[str, bool]:
    """Per column: numeric when every non-empty sampled value parses as a number (and none is nested)."""
    types = {}
    for c, values in sample.items():
        vals = [v for v in values if v not in (None, "")]
        types[c] = bool(vals) and not any(isinstance(v, (dict, list)) for v in vals) and \
            all(_number(v) is not None for v in vals)
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
            num = _number(v)
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
