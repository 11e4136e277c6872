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

from simulations.ope.errors import OPEError
from simulations.ope.readers.source import BadLines

# pyarrow parses CSV in blocks; a field or row must fit in one (the csv module's limit was 128 KiB)
CSV_BLOCK = 8 << 20


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
            first = fh.readline(CSV_BLOCK)
        if first.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark is not part of the first name
            first = first[3:]
        if not first.strip():
            raise OPEError(f"{self.path}: empty CSV (no header)")
        try:
            text = first.decode("utf-8")
        except UnicodeDecodeError:
            raise OPEError(f"{self._first_non_utf8()}; save the file as UTF-8") from None
        return next(csv.reader([text.rstrip("\r\n")], delimiter=self._delimiter()))

    def _csv_reader(self, columns: Sequence[str] | None, block: int, skip_bad: bool,
                    invalid: list | None = None) -> Any:
        import pyarrow as pa
        import pyarrow.csv as pcsv

        def on_invalid(row: Any) -> str:
            if invalid is not None:
                invalid.append(row)
            return "skip" if skip_bad else "error"

        types = {c: pa.string() for c in columns} if columns else None
        try:
            return pcsv.open_csv(
                self.path,
                read_options=pcsv.ReadOptions(block_size=block, use_threads=True),
                parse_options=pcsv.ParseOptions(delimiter=self._delimiter(), newlines_in_values=True,
                                                invalid_row_handler=on_invalid),
                # strings, not inferred types: hashed ids such as 3e5a1f stay ids, and a column that
                # turns non-numeric after the first block is not an error
                convert_options=pcsv.ConvertOptions(include_columns=list(columns) if columns else None,
                                                    column_types=types, strings_can_be_null=False,
                                                    quoted_strings_can_be_null=False),
            )
        except (pa.ArrowInvalid, OSError) as exc:
            raise self._csv_error(exc) from None

    def _csv(self, columns: Sequence[str] | None, size: int) -> Iterator[RawBatch]:
        import pyarrow as pa

        columns = list(columns) if columns is not None else self.names()
        invalid: list = []
        reader = self._csv_reader(columns, CSV_BLOCK, skip_bad=True, invalid=invalid)
        first = 1
        while True:
            try:
                rb = reader.read_next_batch()
            except StopIteration:
                return
            except (pa.ArrowInvalid, OSError) as exc:
                raise self._csv_error(exc) from None
            for row in invalid:  # rows pyarrow could not split into the header's fields
                self.bad.add(f"{self.path}:{self._find_line(row.text)}",
                             f"{row.actual_columns} fields where the header has {row.expected_columns}")
            invalid.clear()
            for start in range(0, rb.num_rows, size):
                part = rb.slice(start, size)
                yield RawBatch(dict(zip(rb.schema.names, part.columns)), first, None, part.num_rows)
                first += part.num_rows

    def _find_line(self, text: str) -> str:
        """The line number of a row pyarrow reported by its text (only for error messages)."""
        with open(self.path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                if raw.rstrip(b"\r\n").decode("utf-8", "replace") == text:
                    return str(lineno)
        return "?"

    def _csv_error(self, exc: Exception) -> OPEError:
        msg = " ".join(str(exc).split())
        if "UTF8" in msg or "UTF-8" in msg:
            return OPEError(f"{self._first_non_utf8()}; save the file as UTF-8")
        if "straddling" in msg or "block size" in msg:
            return OPEError(f"{self.path}: a CSV row is longer than {CSV_BLOCK >> 20} MB; not a log of decisions")
        return OPEError(f"{self.path}: not a readable CSV ({msg})")

    def _first_non_utf8(self) -> str:
        with open(self.path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    return f"{self.path}:{lineno}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
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
        with open(self.path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                if not raw.strip():
                    continue
                where = f"{self.path}:{lineno}"
                try:
                    row = json.loads(raw.decode("utf-8"))  # not jsontext: exact ids (see bandit/jsontext.py)
                except UnicodeDecodeError as exc:
                    self.bad.add(where, f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})")
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
