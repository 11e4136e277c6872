"""The catalogue index: one row per variant, as catalog.parquet and catalog.jsonl.

Plain files any tool reads without artbandit (pyarrow, pandas, polars, DuckDB, jq). Columns, in
this order:

    title_id, folder, variant_id, file, aspect, treatment, width, height,
    source_file, source_frame, source_time_s, feature_<name> for every image feature,
    then the input table's other columns (video, title, genre, ...), carried through.

`file` and `source_file` are relative to the catalogue folder (POSIX separators), so a catalogue
can be moved or synced as a whole.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

from artbandit.jobs.catalog_input import CatalogError
from safeio.errors import one_line

INDEX_PARQUET = "catalog.parquet"
INDEX_JSONL = "catalog.jsonl"
FEATURE_PREFIX = "feature_"
BASE_COLUMNS = (
    "title_id",
    "folder",
    "variant_id",
    "file",
    "aspect",
    "treatment",
    "width",
    "height",
    "source_file",
    "source_frame",
    "source_time_s",
)
_TYPES = {"width": "int64", "height": "int64", "source_frame": "int64", "source_time_s": "float64"}


def feature_names() -> tuple[str, ...]:
    from imaging.features import FEATURE_NAMES

    return tuple(FEATURE_NAMES)


def reserved_columns() -> set[str]:
    """Index column names an input table's extra columns may not use."""
    return set(BASE_COLUMNS) | {FEATURE_PREFIX + n for n in feature_names()}


def title_rows(title: dict[str, Any], folder: str, extra: dict[str, Any]) -> list[dict[str, Any]]:
    """The index rows of one finished title (its title.json content) plus its carried columns."""
    rows = []
    base = f"titles/{folder}"
    for v in title["variants"]:
        row: dict[str, Any] = {
            "title_id": title["title_id"],
            "folder": folder,
            "variant_id": v["variant_id"],
            "file": f"{base}/variants/{v['file']}",
            "aspect": v["aspect"],
            "treatment": v["treatment"],
            "width": v["width"],
            "height": v["height"],
            "source_file": f"{base}/candidates/{v['source_file']}",
            "source_frame": v["source_frame"],
            "source_time_s": v["source_time_s"],
        }
        for name in feature_names():
            value = v["features"].get(name)
            row[FEATURE_PREFIX + name] = None if value is None else float(value)
        row.update(extra)
        rows.append(row)
    return rows


def _column(pa: Any, name: str, values: list[Any]) -> Any:
    """A typed Arrow column: fixed types for known columns; carried columns as inferred, or as
    text when their values mix types (a CSV gives text, a JSONL table may give anything)."""
    if name in _TYPES:
        return pa.array(values, type=getattr(pa, _TYPES[name])())
    if name.startswith(FEATURE_PREFIX):
        return pa.array(values, type=pa.float64())
    if name in BASE_COLUMNS:
        return pa.array(values, type=pa.string())
    try:
        return pa.array(values)
    except (pa.ArrowException, TypeError, ValueError):
        return pa.array(
            [None if v is None else json.dumps(v) if isinstance(v, (dict, list)) else str(v) for v in values],
            type=pa.string(),
        )


def write_index(root: Path, rows: list[dict[str, Any]], extra_columns: Iterable[str]) -> None:
    """Write catalog.parquet and catalog.jsonl atomically (each: temporary file, then rename)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from safeio.atomic import write_bytes_atomic
    from safeio.jsonl import write_jsonl_atomic

    columns = [*BASE_COLUMNS, *(FEATURE_PREFIX + n for n in feature_names()), *extra_columns]
    table = pa.table({c: _column(pa, c, [r.get(c) for r in rows]) for c in columns})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    write_bytes_atomic(root / INDEX_PARQUET, sink.getvalue().to_pybytes())
    write_jsonl_atomic(root / INDEX_JSONL, ({c: r.get(c) for c in columns} for r in rows))


def read_index(root: str | Path) -> list[dict[str, Any]]:
    """The index rows (from catalog.parquet, else catalog.jsonl); CatalogError if neither reads."""
    root = Path(root)
    parquet, jsonl = root / INDEX_PARQUET, root / INDEX_JSONL
    if parquet.is_file():
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return pq.read_table(parquet).to_pylist()
        except (pa.ArrowException, OSError) as exc:
            raise CatalogError(f"{parquet}: not readable ({one_line(exc)})") from None
    if jsonl.is_file():
        from safeio.jsonl import iter_jsonl

        return [row for _, row in iter_jsonl(jsonl)]
    raise CatalogError(f"{root}: no {INDEX_PARQUET} or {INDEX_JSONL} (run `artbandit catalog build` first)")


def actions_by_title(
    root: str | Path,
    min_variants: int = 2,
    genres: tuple[str, ...] | None = None,
) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """The index as one `artbandit.variants/1` document per title (its rows' ids, files, features),
    for tools that take variants folders (the simulator). Titles with fewer than `min_variants`
    variants are left out, with a note each. With `genres` (the simulator's), a title's `genre`
    column, if it names one of them (any case), goes into its document; another genre gets a note
    (the simulator then draws one). Returns ([(folder, document)], notes)."""
    root = Path(root)
    rows = read_index(root)
    if not rows:
        raise CatalogError(f"{root}: the catalogue index has no variants")
    features = [c for c in rows[0] if c.startswith(FEATURE_PREFIX)]
    titles: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        titles.setdefault(str(r["folder"]), []).append(r)
    out, notes = [], []
    for folder, trs in titles.items():
        if len(trs) < min_variants:
            notes.append(f"title {trs[0]['title_id']!r} has {len(trs)} variant(s), fewer than {min_variants}: left out")
            continue
        variants = [
            {
                "id": r["variant_id"],
                "file": str((root / r["file"]).absolute()),
                "aspect": r["aspect"],
                "treatment": r["treatment"],
                "features": {c[len(FEATURE_PREFIX) :]: r[c] for c in features if r[c] is not None},
            }
            for r in trs
        ]
        doc = {"schema": "artbandit.variants/1", "title_id": trs[0]["title_id"], "variants": variants}
        given = trs[0].get("genre")
        if genres is not None and isinstance(given, str) and given.strip():
            if given.strip().lower() in genres:
                doc["genre"] = given.strip().lower()
            else:
                notes.append(
                    f"title {trs[0]['title_id']!r} has genre {given!r}, not one the simulated audience "
                    f"knows ({', '.join(genres)}): drawn at random"
                )
        out.append((folder, doc))
    if not out:
        raise CatalogError(f"{root}: no title in the index has {min_variants} or more variants")
    return out, notes


@contextlib.contextmanager
def catalog_variant_dirs(
    root: str | Path, on_note: Any = None, genres: tuple[str, ...] | None = None
) -> Iterator[list[str]]:
    """The index's titles as `variants` folders for the simulator, while the context lasts: one
    variants.json per title written from the index (ids, files, features, and the genre when it is
    one of `genres`) into a temporary folder named like the catalogue's title folder, so the
    simulator's actions are the index's rows."""
    titles, notes = actions_by_title(root, genres=genres)
    for note in notes:
        if on_note is not None:
            on_note(note)
    with tempfile.TemporaryDirectory(prefix="artbandit-catalog-") as tmp:
        dirs = []
        for folder, doc in titles:
            (Path(tmp) / folder).mkdir()
            (Path(tmp) / folder / "variants.json").write_text(json.dumps(doc), encoding="utf-8")
            dirs.append(str(Path(tmp) / folder))
        yield dirs
