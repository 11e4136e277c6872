"""Generic CSV, JSONL and Parquet decision logs (one decision per row), mapped by a ColumnMapping.

Columnar: only the mapped columns are read (contexts too only when a policy asks for events), and
rewards, propensities and chosen indices are converted per batch with pyarrow/numpy; a row that does
not convert is found afterwards and reported (or skipped and counted) with its row or line number.
Column types of contexts are fixed from the first batch: a column is numeric when all its values
there parse as numbers, otherwise categorical (so hashed ids like '3e5a1f' never turn into floats).
"""

from __future__ import annotations

import fnmatch
import math
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from simulations.ope.errors import OPEError
from simulations.ope.readers.cells import (
    as_list,
    codes_of,
    column_groups,
    column_types,
    context_builder,
    flat_features,
    floats,
    is_nested_type,
    parses_as_number,
    shown,
    split_list,
)
from simulations.ope.readers.events import EventBatch, ReplayEvent
from simulations.ope.readers.jsonvalues import MIN_PROPENSITY, parse_time, propensity_problem, reward_problem
from simulations.ope.readers.source import BadLines, ColumnMapping, count_lines
from simulations.ope.readers.sqlite import note_missing
from simulations.ope.readers.tablefile import RawBatch, TableFile, rows_of

# Column names that hold an event's time: not used as context unless --context-cols names them
TIME_NAMES = frozenset({"timestamp", "time", "ts", "datetime", "date", "event_time"})


def is_index_column(name: str) -> bool:
    """A row-index column written by a data frame (pandas' to_csv: an unnamed first column)."""
    return name.strip() == "" or name.lower() == "index" or (name.startswith("Unnamed: ") and name[9:].isdigit())


def _column(raw: RawBatch, name: str | None) -> Any:
    """A mapped column of a batch; only called for a mapping name the caller checked is given."""
    if name is None:
        raise OPEError("internal: a column the log mapping does not name was read")
    return raw.columns[name]


class GrowingCatalog:
    """The candidate set "every action in the log" built during the one pass that also reads the rows.

    Why: the catalog needs the whole action column before any event's chosen index is known; with
    no per-event policy the rows are kept as compact columns and ranked at the end, instead of
    reading (and parsing) the file twice."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    @property
    def ids(self) -> list[str]:
        return list(self.index)

    def codes(self, codes: np.ndarray, uniq: list[str]) -> np.ndarray:
        """Codes of a batch (into its uniques) as codes in first-seen order; -1 (no id) stays -1."""
        index = self.index
        to_global = np.array([index.setdefault(a, len(index)) if a else -1 for a in uniq] + [-1], dtype=np.int64)
        return to_global[codes]

    def ranked(self, held: list[EventBatch], catalog: list[str], has_p: bool) -> Iterator[EventBatch]:
        """The held batches with chosen = position in the sorted catalog (and p = 1/K if not logged)."""
        rank = np.empty(len(self.index), dtype=np.int64)
        rank[[self.index[a] for a in catalog]] = np.arange(len(catalog))
        for batch in held:
            batch.chosen = rank[batch.chosen]
            batch.sets = [catalog]
            if not has_p:
                batch.probability = np.full(len(batch), 1.0 / len(catalog))
            yield batch


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
        for opt, flag in (
            (m.propensity_col, "--propensity-col"),
            (m.candidates_col, "--candidates-col"),
            (m.timestamp_col, "--timestamp-col"),
            (m.position_col, "--position-col"),
        ):
            if opt and opt not in header and not (flag == "--propensity-col" and opt == "propensity"):
                raise OPEError(f"{self.path}: no column {opt!r} ({flag})")
        return header

    def _context_columns(self, columns: list[str]) -> list[str]:
        m = self.m
        mapped = {m.action_col, m.reward_col, m.propensity_col, m.candidates_col, m.timestamp_col, m.position_col}
        if not m.context_cols:
            return self._default_context(columns, mapped)
        chosen: list[str] = []
        for pattern in m.context_cols:
            hits = [c for c in columns if fnmatch.fnmatchcase(c, pattern) and c not in mapped]
            if not hits:
                raise OPEError(f"{self.path}: --context-cols {pattern!r} matches no column")
            chosen += [c for c in hits if c not in chosen]
        return chosen

    def _default_context(self, columns: list[str], mapped: set) -> list[str]:
        """Every unmapped column but a row index (unnamed, pandas' 'Unnamed: 0', 'index') and an unmapped
        time column (unique per event: noise as a feature); one note says what was chosen and left out,
        so a user sees what --context-cols to pass instead."""
        chosen, skipped = [], []
        for c in columns:
            if c in mapped:
                continue
            if is_index_column(c):
                skipped.append(f"{c!r} (a row index)" if c else "the unnamed first column (a row index)")
            elif not self.m.timestamp_col and c.lower() in TIME_NAMES:
                skipped.append(f"{c!r} (pass --timestamp-col {c} to order events by it)")
            else:
                chosen.append(c)
        if skipped or len(chosen) > 1:
            groups = ", ".join(f"{g} ({len(cs)})" if len(cs) > 1 else g for g, cs in column_groups(chosen).items())
            text = f"context columns: {groups or 'none'}"
            if skipped:
                text += f"; not used as context: {', '.join(skipped)}"
            self._note(text + " (--context-cols chooses others)")
        return chosen

    def _ids(self, raw: RawBatch, name: str) -> tuple[np.ndarray, list[str]]:
        """(code per row into uniques, uniques) of an id column; code -1: empty or nested (bad row)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        col = raw.columns[name]
        if isinstance(col, pa.Array):
            if is_nested_type(col.type):
                raise OPEError(f"{self.path}: column {name!r} holds nested values ({col.type}), not action ids")
            if not pa.types.is_string(col.type):
                col = pc.cast(col, pa.string())
            enc = col.dictionary_encode()
            uniq = enc.dictionary.to_pylist()
            codes = codes_of(enc.indices)
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

        col = _column(raw, self.m.candidates_col)
        sets: list[list[str]] = []
        if isinstance(col, pa.Array) and pa.types.is_string(col.type):
            enc = col.dictionary_encode()
            idx = codes_of(enc.indices)
            cells = enc.dictionary.to_pylist()
        else:
            values = as_list(col)
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
        for row in np.flatnonzero(idx < 0):
            idx[row] = len(sets)
        if (idx == len(sets)).any():
            sets.append([])
        for row in np.flatnonzero(np.isin(idx, list(bad_sets))) if bad_sets else ():
            self._bad(raw, keep, int(row), bad_sets[int(idx[row])])
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
        if m.position_col:
            self._note(
                f"slots from column {m.position_col!r}: each row's weight is the policy's probability of "
                "its item at its slot (slots filled in proportion to the policy's pmf; best-fixed: the "
                "k-th best at slot k) over the logged item-position propensity"
            )
        if not has_p:
            self._note("no propensity column: the logger is assumed uniform over each candidate set")
        ctx_cols = self._context_columns(header) if need_events else []
        wanted = list(
            dict.fromkeys(
                c
                for c in (
                    m.action_col,
                    m.reward_col,
                    m.propensity_col if has_p else None,
                    m.candidates_col,
                    m.timestamp_col,
                    m.position_col,
                    *ctx_cols,
                )
                if c
            )
        )
        shared: Any = None  # the candidate set every event shares, when the log has no candidates column
        deferred = not m.candidates_col and not need_events and self._catalog is None
        if deferred:  # one pass: ids coded as first seen, ranked in the sorted catalog at the end
            shared = GrowingCatalog()
        elif not m.candidates_col:
            ids = self.catalog()
            shared = ([ids], {a: i for i, a in enumerate(ids)})
        state: dict[str, Any] = {"missing": 0, "last_time": -math.inf, "unordered": False, "rows": 0, "build": None}
        held: list[EventBatch] = []
        for raw in self.table.batches(wanted, size):
            state["rows"] += raw.size
            batch = self._convert(raw, shared, has_p, ctx_cols if need_events else None, state)
            if len(batch):
                if deferred:
                    held.append(batch)
                else:
                    yield batch
        if deferred:
            self._catalog = sorted(shared.ids)
            yield from shared.ranked(held, self._catalog, has_p)
        if not state["rows"]:
            raise OPEError(f"{self.path}: the log has no events")
        note_missing(self.notes, state["missing"])
        if state["unordered"]:
            self._note(f"{self.path}: timestamps are not in order; events were replayed in file order")

    def _convert(self, raw: RawBatch, shared: Any, has_p: bool, ctx_cols: list[str] | None, state: dict) -> EventBatch:
        m, n = self.m, raw.size
        keep = np.ones(n, dtype=bool)
        codes, uniq = self._ids(raw, m.action_col)
        if isinstance(shared, GrowingCatalog):
            sets, set_index = [], np.zeros(n, dtype=np.int64)
            chosen = shared.codes(codes, uniq)
        elif shared is not None:
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
            v = as_list(raw.columns[m.reward_col][int(i) : int(i) + 1])[0]
            kind = "not a finite number" if parses_as_number(v) else "not a number"
            self._bad(raw, keep, int(i), f"reward {shown(v)} is {kind}")
        for i in np.flatnonzero(np.abs(reward) > 0):  # NaN compares False: reported above
            problem = reward_problem(float(reward[i]))
            if problem:
                v = as_list(raw.columns[m.reward_col][int(i) : int(i) + 1])[0]
                self._bad(raw, keep, int(i), f"reward {shown(v)} {problem}")
        state["missing"] += int(np.sum(empty & keep))
        n_cand = np.array([len(s) for s in sets] + [0], dtype=np.float64)[set_index] if sets else None
        if has_p:
            prob, p_empty = floats(_column(raw, m.propensity_col))
            for i in np.flatnonzero(~((prob >= MIN_PROPENSITY) & (prob <= 1)) | p_empty):
                v = as_list(_column(raw, m.propensity_col)[int(i) : int(i) + 1])[0]
                problem = propensity_problem(None if p_empty[i] else float(prob[i]))
                self._bad(raw, keep, int(i), f"propensity {shown(v)} {problem}")
        elif n_cand is None:
            prob = np.full(n, np.nan)  # a growing catalog: its size is known at the end
        else:
            with np.errstate(divide="ignore"):
                prob = 1.0 / n_cand
        times = self._times(raw, keep, state) if m.timestamp_col else None
        position = self._positions(raw, keep, n_cand) if m.position_col else None
        events = None
        if ctx_cols is not None:
            events = self._events(raw, keep, ctx_cols, sets, set_index, chosen, prob, reward, times, state)
            if position is not None:
                for ev, k in zip(events, position[keep]):
                    ev.position = int(k)
        sel = np.flatnonzero(keep)
        return EventBatch(
            reward=reward[sel],
            probability=prob[sel],
            chosen=chosen[sel],
            sets=sets,
            set_index=set_index[sel],
            zero_count=np.full(len(sel), np.nan),
            events=events,
            position=None if position is None else position[sel],
        )

    def _positions(self, raw: RawBatch, keep: np.ndarray, n_cand: np.ndarray | None) -> np.ndarray:
        """Each row's slot: a whole number from 1 (to the candidate count, when that is known yet)."""
        col = _column(raw, self.m.position_col)
        k, empty = floats(col)
        bad = empty | np.isnan(k) | (k < 1) | (k != np.floor(k))
        if n_cand is not None:
            bad |= k > n_cand
        for i in np.flatnonzero(bad):
            v = as_list(col[int(i) : int(i) + 1])[0]
            self._bad(raw, keep, int(i), f"position {shown(v)} is not a slot number 1, 2, ...")
        return np.where(bad, 1, np.nan_to_num(k, nan=1.0)).astype(np.int64)

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
        col = _column(raw, self.m.timestamp_col)
        t, empty = floats(col)
        t[empty] = np.nan
        todo = np.flatnonzero(np.isnan(t) & ~empty)
        if len(todo):  # ISO 8601 text, one value at a time
            values = as_list(col)
            for i in todo:
                v = parse_time(values[i])
                if v is None:
                    self._bad(
                        raw, keep, int(i), f"timestamp {shown(values[i])} is neither seconds nor an ISO 8601 time"
                    )
                    t[i] = np.nan
                else:
                    t[i] = v
        seen = t[keep & ~np.isnan(t)]
        if len(seen):
            if seen[0] < state["last_time"] or np.any(np.diff(seen) < 0):
                state["unordered"] = True
            state["last_time"] = float(seen[-1])
        return t

    def _events(self, raw, keep, ctx_cols, sets, set_index, chosen, prob, reward, times, state) -> list[ReplayEvent]:
        columns = [as_list(raw.columns[c]) for c in ctx_cols]
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
            events.append(ReplayEvent(context, sets[s], feats[s], int(chosen[i]), float(prob[i]), float(reward[i]), t))
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
