"""The catalogue's input: a table of titles (CSV, JSONL, Parquet) or a folder/glob of videos.

Every problem with the table as a whole (unreadable, missing column, duplicate or empty title_id)
raises CatalogError with a one-line message before any work starts; a missing or broken video is
not checked here, it fails its own title only when the title runs.

title_id values are user input and become folder names, so `folder_name` maps each id to a name
that is safe on every file system and never collides with another id's name (see its docstring).
"""

from __future__ import annotations

import csv
import glob
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safeio.errors import one_line

REQUIRED = ("title_id", "video")
TABLE_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".parquet")
_SAFE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}\Z")
_HASHED = re.compile(r"-[0-9a-f]{10}\Z")
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


class CatalogError(ValueError):
    """Bad catalogue input or output (one line, shown to the user without a traceback)."""


@dataclass(frozen=True)
class TitleSpec:
    """One title to build: its id, where its video is, and the table's other columns (carried)."""

    title_id: str
    video: str  # absolute path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def folder(self) -> str:
        return folder_name(self.title_id)

    @property
    def overlay(self) -> str | None:
        """The `title` column: text drawn on every variant (None when absent or blank)."""
        text = self.extra.get("title")
        return str(text).strip() or None if text is not None else None


def folder_name(title_id: str) -> str:
    """A folder name for `title_id`: the id itself when it is plainly safe, else a hashed form.

    Plainly safe: lower-case ASCII letters, digits, `.`, `_`, `-`, starting with a letter or digit,
    at most 64 characters, not a Windows device name and not ending like a hashed name. Anything
    else (`../x`, `a/b`, upper case that would clash on case-insensitive disks, unicode, very long
    ids) becomes a readable slug plus `-` and 10 hex digits of the id's SHA-256, so two different
    ids never share a folder and the mapping depends on the id alone (resume needs that).
    """
    if _SAFE.match(title_id) and not _HASHED.search(title_id) and title_id.split(".")[0] not in _WINDOWS_RESERVED:
        return title_id
    ascii_text = unicodedata.normalize("NFKD", title_id).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")[:40] or "title"
    return f"{slug}-{hashlib.sha256(title_id.encode('utf-8')).hexdigest()[:10]}"


def _read_csv(path: Path) -> list[dict[str, Any]]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames:
            raise CatalogError(f"{path}: empty table (no header row)")
        rows = []
        for row in reader:
            if None in row:
                raise CatalogError(f"{path}:{reader.line_num}: more fields than the header has")
            rows.append({k: (v if v != "" else None) for k, v in row.items()})
        return rows


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    from safeio.jsonl import iter_jsonl

    rows = []
    try:
        for number, row in iter_jsonl(path):
            if not isinstance(row, dict):
                raise CatalogError(f"{path}:{number}: a JSON object per line expected")
            rows.append(row)
    except CatalogError:
        raise
    except ValueError as exc:  # iter_jsonl names the file and line
        raise CatalogError(str(exc)) from None
    return rows


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError) as exc:
        raise CatalogError(f"{path}: not a readable Parquet file ({one_line(exc)})") from None


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a CSV/JSONL/Parquet table as dicts; CatalogError when it cannot be read."""
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise CatalogError(f"{path}: not a catalogue table ({', '.join(TABLE_SUFFIXES)}), a folder of videos or a glob")
    try:
        if suffix == ".csv":
            rows = _read_csv(path)
        elif suffix == ".parquet":
            rows = _read_parquet(path)
        else:
            rows = _read_jsonl(path)
    except UnicodeDecodeError:
        raise CatalogError(f"{path}: not UTF-8 text") from None
    except csv.Error as exc:
        raise CatalogError(f"{path}: not a readable CSV table ({exc})") from None
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return rows


def _specs_from_rows(rows: list[dict[str, Any]], source: Path) -> list[TitleSpec]:
    columns = set().union(*(r.keys() for r in rows)) if rows else set()
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise CatalogError(
            f"{source}: missing column {', '.join(map(repr, missing))} (a catalogue table needs {', '.join(REQUIRED)})"
        )
    if not rows:
        raise CatalogError(f"{source}: the table has no titles")
    base = source.parent
    specs: list[TitleSpec] = []
    seen: dict[str, int] = {}
    folders: dict[str, str] = {}
    for i, row in enumerate(rows, 1):
        tid, video = row.get("title_id"), row.get("video")
        if tid is None or str(tid).strip() == "":
            raise CatalogError(f"{source}: row {i} has an empty title_id")
        if video is None or str(video).strip() == "":
            raise CatalogError(f"{source}: row {i} (title_id {str(tid)!r}) has an empty video")
        tid = str(tid)
        if tid in seen:
            raise CatalogError(f"{source}: duplicate title_id {tid!r} (rows {seen[tid]} and {i})")
        seen[tid] = i
        name = folder_name(tid)
        if name in folders:  # only with a SHA-256 prefix collision; checked rather than assumed
            raise CatalogError(f"{source}: title_ids {folders[name]!r} and {tid!r} map to one folder")
        folders[name] = tid
        path = Path(str(video)).expanduser()
        path = path if path.is_absolute() else base / path
        extra = {k: v for k, v in row.items() if k not in REQUIRED}
        extra["video"] = str(video)
        specs.append(TitleSpec(tid, str(path.absolute()), extra))
    return specs


def _specs_from_videos(paths: list[Path], source: str) -> list[TitleSpec]:
    from imaging.decode.video import VIDEO_EXTENSIONS

    videos = sorted(p for p in paths if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
    if not videos:
        raise CatalogError(f"{source}: no video files ({', '.join(VIDEO_EXTENSIONS[:6])}, ...)")
    stems = [v.stem for v in videos]
    specs = []
    for v in videos:  # one title per file: id = stem, or the file name where two stems clash
        tid = v.stem if stems.count(v.stem) == 1 else v.name
        specs.append(TitleSpec(tid, str(v.absolute()), {"video": str(v)}))
    return specs


def load_titles(source: str | Path) -> list[TitleSpec]:
    """Titles from a table file, a folder of videos, or a glob of video files (CatalogError if none)."""
    text = str(source)
    path = Path(text)
    if path.is_dir():
        return _specs_from_videos(list(path.iterdir()), text)
    if path.is_file():
        return _specs_from_rows(read_rows(path), path)
    if glob.has_magic(text):
        return _specs_from_videos([Path(p) for p in glob.glob(text)], text)
    raise CatalogError(f"{text}: no such file or folder")


def table_inputs(source: str | Path, specs: list[TitleSpec]) -> list[str]:
    """The paths the build reads (the table or folder and every video), for OutputFolder checks."""
    text = str(source)
    return ([] if glob.has_magic(text) and not Path(text).exists() else [text]) + [s.video for s in specs]
