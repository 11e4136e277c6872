"""`artbandit catalog build` as a library call: plan, run titles on an engine, write the index.

The catalogue folder (owned through safeio.OutputFolder, kind "catalog"):

    catalog/.artbandit-output.json   ownership marker (a folder without it is never written into)
    catalog/.lock                    held while a build runs (a second build is refused)
    catalog/plan.jsonl               the titles of the current run (status reads it after a crash)
    catalog/titles/<folder>/         one complete folder per finished title (catalog_title)
    catalog/catalog.parquet, .jsonl  the index (catalog_index), written at the end of a run
    catalog/failures.jsonl           {title_id, stage, reason} per failed title (or variant)
    catalog/run.json                 options, versions, counts, per-stage timings, state

Resume: a title whose title.json holds the same input key (video path, size, mtime; overlay;
options) is skipped; anything else is (re)built. A killed driver leaves complete titles and
temporaries named after dead processes, which the next run removes (safeio.atomic.recover_dir).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import platform
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from artbandit.jobs.catalog_index import reserved_columns, title_rows, write_index
from artbandit.jobs.catalog_input import CatalogError, TitleSpec, load_titles, table_inputs
from artbandit.jobs.catalog_title import CatalogOptions, TitleTask, build_title, input_key, read_title
from safeio.atomic import recover_dir, write_text_atomic
from safeio.engine.base import Engine
from safeio.jsonl import write_jsonl_atomic
from safeio.outdir import OutputFolder
from safeio.progress import Progress, no_progress

RUN_SCHEMA = "artbandit.catalog-run/1"
KIND = "catalog"
PLAN = "plan.jsonl"
FAILURES = "failures.jsonl"
RUN = "run.json"
LOCK = ".lock"
_TEMP = re.compile(r"^\.(?P<final>.+)\.(abtmp|abold)-\d+-[0-9a-f]+\Z")


@dataclass
class BuildResult:
    """What a build did; `failures` are the failures.jsonl rows."""

    root: Path
    titles: int = 0
    built_ids: list[str] = field(default_factory=list)
    skipped: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    variants: int = 0
    state: str = "complete"

    @property
    def built(self) -> int:
        return len(self.built_ids)

    @property
    def failed_titles(self) -> int:
        return len({f["title_id"] for f in self.failures if f["stage"] != "variant"})


def versions(engine: str) -> dict[str, str]:
    """Versions of what shaped the output (written to run.json)."""
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for dist in (
        "artbandit",
        "numpy",
        "opencv-python-headless",
        "av",
        "pillow",
        "pyarrow",
        *(("ray",) if engine == "ray" else ()),
    ):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out


@contextlib.contextmanager
def build_lock(root: Path) -> Iterator[None]:
    """Hold catalog/.lock for the build (released by the kernel even on SIGKILL)."""
    fh = open(root / LOCK, "a+")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CatalogError(f"{root}: another catalog build is running on this folder") from None
        yield
    finally:
        fh.close()


def is_locked(root: Path) -> bool:
    """True while a build holds the catalogue's lock."""
    try:
        with open(root / LOCK, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            return False
    except OSError:
        return False


def clean_temporaries(titles_dir: Path) -> None:
    """Remove what killed runs left in titles/ (only temporaries of processes that are gone)."""
    if not titles_dir.is_dir():
        return
    finals = {m["final"] for e in titles_dir.iterdir() if (m := _TEMP.match(e.name))}
    for final in finals:
        recover_dir(titles_dir / final)


def _check_extra_columns(specs: list[TitleSpec]) -> list[str]:
    extra = list(dict.fromkeys(k for s in specs for k in s.extra))
    clash = sorted(set(extra) & reserved_columns())
    if clash:
        raise CatalogError(f"column {clash[0]!r} of the table clashes with an index column; rename it")
    return extra


def build_catalog(
    source: str | Path,
    out: str | Path,
    engine: Engine,
    options: CatalogOptions = CatalogOptions(),
    *,
    force: bool = False,
    progress: Progress = no_progress,
    on_title: Callable[[str, dict[str, Any]], None] | None = None,
) -> BuildResult:
    """Build (or continue) the catalogue of `source` in `out` with `engine`.

    `progress(done, total, "titles")` counts finished titles (built or failed) of this run;
    `on_title(title_id, doc)` sees each result (doc has "failed" and "reason" on failure).
    """
    specs = load_titles(source)
    extra_columns = _check_extra_columns(specs)
    root = Path(out)
    folder = OutputFolder(root, kind=KIND, inputs=table_inputs(source, specs), input_key=None)
    state = folder.check()
    root.mkdir(parents=True, exist_ok=True)
    if state == "new":
        folder.write_marker(root)
    titles_dir = root / "titles"
    result = BuildResult(root, titles=len(specs))
    with build_lock(root):
        titles_dir.mkdir(exist_ok=True)
        clean_temporaries(titles_dir)
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_jsonl_atomic(root / PLAN, ({"title_id": s.title_id, "folder": s.folder, "video": s.video} for s in specs))
        run = {
            "schema": RUN_SCHEMA,
            "state": "running",
            "started": started,
            "source": str(source),
            "engine": engine.name,
            "workers": engine.workers,
            "options": options.to_dict(),
            "force": force,
            "versions": versions(engine.name),
        }
        write_text_atomic(root / RUN, json.dumps(run, indent=2) + "\n")

        docs: dict[str, dict[str, Any]] = {}
        todo: list[TitleTask] = []
        for s in specs:
            key = input_key(s.video, s.overlay, options)
            final = titles_dir / s.folder
            doc = None if force else read_title(final)
            if doc is not None and doc.get("key") == json.loads(json.dumps(key)):
                docs[s.title_id] = doc
                result.skipped += 1
            else:
                todo.append(TitleTask(s.title_id, s.video, str(final.absolute()), s.overlay, options, key))

        t0 = time.perf_counter()
        interrupted = False
        try:
            progress(0, len(todo), "titles")
            for n, res in enumerate(engine.imap(build_title, todo), 1):
                task = todo[res.index]
                doc = res.value if res.ok else {"failed": "task", "reason": res.error}
                if "failed" in doc:
                    result.failures.append({"title_id": task.title_id, "stage": doc["failed"], "reason": doc["reason"]})
                else:
                    docs[task.title_id] = doc
                    result.built_ids.append(task.title_id)
                if on_title is not None:
                    on_title(task.title_id, doc)
                progress(n, len(todo), "titles")
        except BaseException:  # Ctrl-C, or the engine itself failed: the index still lists what is done
            interrupted = True
            result.state = "interrupted"
            raise
        finally:
            wall = time.perf_counter() - t0
            # again at the end: a worker orphaned by a killed earlier run may have still been alive
            # (so its temporary was kept) when the start of this run cleaned up
            clean_temporaries(titles_dir)
            _finish(root, specs, docs, extra_columns, result, run, wall, interrupted)
    return result


def _finish(
    root: Path,
    specs: list[TitleSpec],
    docs: dict[str, dict[str, Any]],
    extra_columns: list[str],
    result: BuildResult,
    run: dict[str, Any],
    wall: float,
    interrupted: bool,
) -> None:
    """Write the index, failures.jsonl and run.json for every complete title of the plan."""
    rows: list[dict[str, Any]] = []
    for s in specs:
        doc = docs.get(s.title_id)
        if doc is None:
            continue
        rows.extend(title_rows(doc, s.folder, {c: s.extra.get(c) for c in extra_columns}))
        result.failures.extend(
            {"title_id": s.title_id, "stage": "variant", "reason": r} for r in doc.get("variant_failures", [])
        )
    result.variants = len(rows)
    write_index(root, rows, extra_columns)
    write_jsonl_atomic(root / FAILURES, result.failures)
    stage_totals: dict[str, float] = {}
    fresh = [docs[tid] for tid in result.built_ids]
    for d in fresh:
        for k, v in d["timings"].items():
            stage_totals[k] = stage_totals.get(k, 0.0) + v
    run.update(
        {
            "state": "interrupted" if interrupted else "complete",
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "counts": {
                "titles": result.titles,
                "built": result.built,
                "skipped": result.skipped,
                "failed": result.failed_titles,
                "complete": len(docs),
                "pending": result.titles - len(docs) - result.failed_titles,
                "variants": result.variants,
            },
            "timings": {
                "wall_s": round(wall, 3),
                "titles_per_min": round(60 * (result.built + result.failed_titles) / wall, 3) if wall > 0 else None,
                "stage_totals_s": {k: round(v, 3) for k, v in stage_totals.items()},
                "stage_mean_s": {k: round(v / len(fresh), 4) for k, v in stage_totals.items()} if fresh else {},
            },
        }
    )
    write_text_atomic(root / RUN, json.dumps(run, indent=2) + "\n")
