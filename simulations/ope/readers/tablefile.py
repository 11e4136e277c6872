"""Table files (CSV, JSONL, Parquet) as batches of columns, reading only the columns asked for.

CSV and Parquet go through pyarrow's readers (C++, multithreaded, columnar); JSON lines through the
standard library, one line at a time (orjson reads integers over 64 bits as floats, and in a generic
log an integer may be an id). A batch is a dict column -> pyarrow array (CSV, Parquet) or Python
list (JSONL), with where each row came from for error messages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from safeio.errors import one_line
from simulations.ope.errors import OPEError
from simulations.ope.readers.source import BadLines, not_utf8, text_lines

# pyarrow parses CSV in blocks a row must fit in; small blocks keep memory low (read-ahead holds a
# few), and a longer row makes the read start again after the rows already read with larger blocks
CSV_BLOCK = 1 << 20
CSV_MAX_BLOCK = 64 << 20


@dataclass
class RawBatch:
    """Columns of consecutive rows; lines: each row's line number (JSONL) or None (row numbers)."""

    columns: dict[str, Any]
    first_row: int
    lines: list[int] | None
    size: int

    def where(self, path: Path, i: int) -> str:
        """Where row i of the batch is, as errors name it: file:line, or file: row N (data rows from 1)."""
        if self.lines is not None:
            return f"{path}:{self.lines[i]}"
        return f"{path}: row {self.first_row + i}"


class TableFile:
    """One CSV/JSONL/Parquet file: its column names, and batches of only the columns asked for."""

    def __init__(self, path: Path, fmt: str, bad: BadLines) -> None:
        self.path, self.fmt, self.bad = path, fmt, bad
        self._names: list[str] | None = None

    def names(self) -> list[str]:
        if self._names is None:
            if self.fmt == "csv":
                self._names = self._csv_header()
            elif self.fmt == "parquet":
                self._names = list(self._parquet().schema_arrow.names)
            else:
                self._names = next((list(b.columns) for b in self._jsonl(None, 1)), [])
        return self._names

    def batches(self, columns: Sequence[str] | None, size: int) -> Iterator[RawBatch]:
        """Batches of at most `size` rows of `columns` (None: all)."""
        if self.fmt == "csv":
            yield from self._csv(columns, size)
        elif self.fmt == "parquet":
            first = 1
            for rb in self._parquet().iter_batches(batch_size=size, columns=list(columns) if columns else None):
                yield RawBatch(dict(zip(rb.schema.names, rb.columns)), first, None, rb.num_rows)
                first += rb.num_rows
        else:
            yield from self._jsonl(columns, size)

    # -- CSV
    def _delimiter(self) -> str:
        with open(self.path, "rb") as fh:
            sample = fh.read(4096)
        return "\t" if self.path.suffix.lower() == ".tsv" or sample.count(b"\t") > sample.count(b",") else ","

    def _csv_header(self) -> list[str]:
        import csv

        with open(self.path, "rb") as fh:
            first = fh.readline(CSV_MAX_BLOCK)
        if first.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark is not part of the first name
            first = first[3:]
        if not first.strip():
            raise OPEError(f"{self.path}: empty CSV (no header)")
        try:
            text = first.decode("utf-8")
        except UnicodeDecodeError:
            raise OPEError(f"{self._first_non_utf8()}; save the file as UTF-8") from None
        return next(csv.reader([text.rstrip("\r\n")], delimiter=self._delimiter()))

    def _csv_reader(self, columns: Sequence[str], block: int, skip: int) -> Any:
        import pyarrow as pa
        import pyarrow.csv as pcsv

        # No invalid_row_handler: a Python callback runs on pyarrow's worker threads, and one still
        # running (or dropping its reference) at interpreter exit aborts the process. A row with the
        # wrong number of fields stops the read instead, and _csv_rows takes over from there.
        return pcsv.open_csv(
            self.path,
            read_options=pcsv.ReadOptions(block_size=block, use_threads=True, skip_rows_after_names=skip),
            parse_options=pcsv.ParseOptions(delimiter=self._delimiter(), newlines_in_values=True),
            # strings, not inferred types: hashed ids such as 3e5a1f stay ids, and a column that
            # turns non-numeric after the first block is not an error
            convert_options=pcsv.ConvertOptions(
                include_columns=list(columns),
                column_types={c: pa.string() for c in columns},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )

    def _csv(
        self, columns: Sequence[str] | None, size: int, block: int = CSV_BLOCK, first: int = 1
    ) -> Iterator[RawBatch]:
        """Batches from data row `first` on (1: the whole file), parsed by pyarrow in `block`-byte blocks."""
        import pyarrow as pa

        columns = list(columns) if columns is not None else self.names()
        error: Exception | None = None
        try:
            reader = self._csv_reader(columns, block, first - 1)  # reads the first block already
        except (pa.ArrowInvalid, OSError) as exc:
            reader, error = None, exc
        try:
            while reader is not None:
                try:
                    rb = reader.read_next_batch()
                except StopIteration:
                    break
                except (pa.ArrowInvalid, OSError) as exc:
                    error = exc
                    break
                for start in range(0, rb.num_rows, size):
                    part = rb.slice(start, size)
                    yield RawBatch(dict(zip(rb.schema.names, part.columns)), first, None, part.num_rows)
                    first += part.num_rows
        finally:
            if reader is not None:
                reader.close()  # stop read-ahead now, not at interpreter exit
        if error is None:
            return
        if ("straddling" in str(error) or "block size" in str(error)) and block < CSV_MAX_BLOCK:
            yield from self._csv(columns, size, block * 8, first)  # a long row: larger blocks from here
            return
        if "columns, got" in str(error):
            # a row with too few or too many fields: the standard library's reader knows line numbers,
            # so it continues after the rows already read and reports (or skips) each such line
            yield from self._csv_rows(columns, size, skip=first - 1)
            return
        raise self._csv_error(error)

    def _csv_rows(self, columns: list[str], size: int, skip: int) -> Iterator[RawBatch]:
        """The CSV from data row skip+1 on, with Python's csv module (the slow path for ragged rows)."""
        import csv

        header = self.names()
        pick = [header.index(c) for c in columns]
        width = len(header)
        csv.field_size_limit(CSV_BLOCK)
        rows: list[list[str]] = []
        lines: list[int] = []
        seen = 0
        with open(self.path, newline="", encoding="utf-8-sig", errors="strict") as fh:
            reader = csv.reader(fh, delimiter=self._delimiter())
            try:
                next(reader, None)
                for row in reader:
                    if not row:
                        continue
                    if len(row) != width:
                        self.bad.add(
                            f"{self.path}:{reader.line_num}", f"{len(row)} fields where the header has {width}"
                        )
                        continue
                    seen += 1
                    if seen <= skip:
                        continue
                    rows.append([row[i] for i in pick])
                    lines.append(reader.line_num)
                    if len(rows) >= size:
                        yield RawBatch({c: [r[j] for r in rows] for j, c in enumerate(columns)}, 0, lines, len(rows))
                        rows, lines = [], []
            except UnicodeDecodeError:
                raise OPEError(f"{self._first_non_utf8()}; save the file as UTF-8") from None
            except csv.Error as exc:
                raise OPEError(f"{self.path}:{reader.line_num}: not a readable CSV ({exc})") from None
        if rows:
            yield RawBatch({c: [r[j] for r in rows] for j, c in enumerate(columns)}, 0, lines, len(rows))

    def _csv_error(self, exc: Exception) -> OPEError:
        msg = one_line(exc)
        if "UTF8" in msg or "UTF-8" in msg:
            return OPEError(f"{self._first_non_utf8()}; save the file as UTF-8")
        if "straddling" in msg or "block size" in msg:
            return OPEError(f"{self.path}: a CSV row is longer than {CSV_MAX_BLOCK >> 20} MB; not a log of decisions")
        return OPEError(f"{self.path}: not a readable CSV ({msg})")

    def _first_non_utf8(self) -> str:
        with open(self.path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    return f"{self.path}:{lineno}: {not_utf8(raw, exc)}"
        return f"{self.path}: not UTF-8 text"

    # -- Parquet
    def _parquet(self) -> Any:
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise OPEError(f"{self.path}: reading Parquet needs pyarrow (pip install 'artbandit[parquet]')") from None
        try:
            return pq.ParquetFile(self.path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
            raise OPEError(f"{self.path}: not a readable Parquet file ({exc})") from None

    # -- JSON lines
    def _jsonl(self, columns: Sequence[str] | None, size: int) -> Iterator[RawBatch]:
        header: list[str] | None = list(columns) if columns is not None else None
        rows: list[dict] = []
        lines: list[int] = []
        first = 1
        for lineno, raw in text_lines(self.path):
            where = f"{self.path}:{lineno}"
            try:
                row = json.loads(raw.decode("utf-8"))  # not jsontext: exact ids (see bandit/log/jsontext.py)
            except UnicodeDecodeError as exc:
                self.bad.add(where, not_utf8(raw, exc))
                continue
            except json.JSONDecodeError as exc:
                self.bad.add(where, f"invalid JSON ({exc.msg})")
                continue
            if not isinstance(row, dict):
                self.bad.add(where, "each JSONL line must be an object")
                continue
            if header is None:
                header = list(row)
            rows.append(row)
            lines.append(lineno)
            if len(rows) >= size:
                yield RawBatch({c: [r.get(c) for r in rows] for c in header}, first, lines, len(rows))
                first += len(rows)
                rows, lines = [], []
        if rows and header is not None:
            yield RawBatch({c: [r.get(c) for r in rows] for c in header}, first, lines, len(rows))


def rows_of(table: TableFile, size: int = 10_000) -> Iterator[list[dict]]:
    """A whole small table as lists of row dicts (the action-features table)."""
    for batch in table.batches(None, size):
        cols = {c: (v.to_pylist() if hasattr(v, "to_pylist") else v) for c, v in batch.columns.items()}
        names = list(cols)
        yield [dict(zip(names, vals)) for vals in zip(*(cols[c] for c in names))]
