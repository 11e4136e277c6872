"""One catalogue title as one task: extract candidates -> variants -> features, into its own folder.

The task runs in a worker (a pool process or a Ray worker), reads the video itself and writes
`titles/<folder>/` itself through the imaging library's public functions, exactly what
`artbandit extract` and `artbandit variants` write:

    titles/<folder>/candidates/   manifest.json, candidate images, contact_sheet.png   (extract)
    titles/<folder>/variants/     variants.json, one JPEG per variant, variants_sheet.png (variants)
    titles/<folder>/title.json    this title's small manifest: id, input key, variants, timings

The folder is built in a temporary sibling and renamed into place when complete (safeio.atomic),
so a killed worker or driver never leaves a half-built title. Only the small title.json document
travels back to the driver; frames and images never do.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from safeio.errors import one_line

TITLE_SCHEMA = "artbandit.catalog-title/1"
TITLE_FILE = "title.json"


@dataclass(frozen=True)
class CatalogOptions:
    """What every title is built with (from command-line options or a TOML/JSON config)."""

    k: int = 8
    mode: str = "default"
    fmt: str = "jpg"
    aspects: tuple[str, ...] = ("16:9", "2:3", "1:1", "4:5")
    width: int = 640
    treatments: tuple[str, ...] = ("none",)
    overlay_title: bool = True  # draw the table's `title` column on every variant

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["aspects"], d["treatments"] = list(self.aspects), list(self.treatments)
        return d


@dataclass(frozen=True)
class TitleTask:
    """The small, picklable description of one title's work (never frames)."""

    title_id: str
    video: str
    final: str  # absolute path of titles/<folder>
    overlay: str | None
    options: CatalogOptions
    key: dict[str, Any] = field(default_factory=dict)


def input_key(video: str, overlay: str | None, options: CatalogOptions) -> dict[str, Any]:
    """What decides whether a finished title is still up to date: the video file (path, size,
    mtime), the overlay text, the options and the output formats' versions."""
    from imaging.artwork.variants import ALGORITHM_VERSION, SCHEMA as VARIANTS_SCHEMA
    from imaging.candidates.manifest import SCHEMA as CANDIDATES_SCHEMA

    try:
        st = os.stat(video)
        file = {"path": video, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    except OSError:
        file = {"path": video, "size": None, "mtime_ns": None}
    return {
        "video": file,
        "overlay": overlay,
        "options": options.to_dict(),
        "versions": [CANDIDATES_SCHEMA, VARIANTS_SCHEMA, ALGORITHM_VERSION],
    }


def read_title(folder: Path) -> dict[str, Any] | None:
    """A finished title's title.json, or None (absent, unreadable or another schema)."""
    try:
        doc = json.loads((folder / TITLE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("schema") == TITLE_SCHEMA else None


def _relocate(variants_json: Path, tmp: Path, final: Path) -> dict[str, Any]:
    """variants.json names its sources by the path they were read from (the temporary folder);
    point them at where the title will live, as if `variants` had been run on the final folder."""
    doc = json.loads(variants_json.read_text(encoding="utf-8"))
    old, new = str(tmp), str(final)

    def moved(path: str) -> str:
        return new + path[len(old) :] if path.startswith(old) else path

    for v in doc.get("variants", []):
        v["source"]["path"] = moved(v["source"]["path"])
    for f in doc.get("failures", []):
        if isinstance(f.get("source"), str):
            f["source"] = moved(f["source"])
        if isinstance(f.get("error"), str):
            f["error"] = f["error"].replace(old, new)
    variants_json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return doc


def _variant_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Per variant what the index needs, in variants.json order (small: ids, numbers, names)."""
    rows = []
    for v in doc["variants"]:
        src = v.get("source", {})
        rows.append(
            {
                "variant_id": v["id"],
                "file": v["file"],
                "aspect": v["aspect"],
                "treatment": v["treatment"],
                "width": v["width"],
                "height": v["height"],
                "source_file": Path(src.get("path", "")).name,
                "source_frame": src.get("frame"),
                "source_time_s": src.get("time_s"),
                "features": v["features"],
            }
        )
    return rows


def build_title(task: TitleTask) -> dict[str, Any]:
    """Build one title's folder; returns title.json's content, or {"failed": stage, "reason": ...}.

    A failure is returned (not raised) so the driver knows the stage; nothing is left on disk.
    """
    from imaging.artwork.variants import make_variants
    from imaging.candidates.extract import extract_candidates
    from imaging.candidates.manifest import write_candidates
    from imaging.errors import ImagingError
    from safeio.atomic import atomic_dir
    from safeio.outdir import OutputFolder

    opts = task.options
    final = Path(task.final)
    timings: dict[str, float] = {}
    stage = "input"
    t0 = time.perf_counter()
    try:
        if not os.path.isfile(task.video):
            what = "is not a file" if os.path.exists(task.video) else "no such file"
            return {"failed": stage, "reason": f"{task.video}: {what}"}
        stage = "extract"
        result = extract_candidates(task.video, k=opts.k, mode=opts.mode)
        timings["extract_s"] = time.perf_counter() - t0
        with atomic_dir(final) as tmp:
            stage = "write"
            t1 = time.perf_counter()
            write_candidates(result, tmp / "candidates", fmt=opts.fmt)
            timings["write_s"] = time.perf_counter() - t1
            del result  # the frames are written; free them before the variants stage
            stage = "variants"
            t1 = time.perf_counter()
            made = make_variants(
                [tmp / "candidates"],
                tmp / "variants",
                aspects=opts.aspects,
                width=opts.width,
                title=task.overlay if opts.overlay_title else None,
                treatments=opts.treatments,
            )
            timings["variants_s"] = time.perf_counter() - t1
            doc = _relocate(tmp / "variants" / "variants.json", tmp, final)
            timings["total_s"] = time.perf_counter() - t0
            manifest = json.loads((tmp / "candidates" / "manifest.json").read_text(encoding="utf-8"))
            title = {
                "schema": TITLE_SCHEMA,
                "title_id": task.title_id,
                "key": task.key,
                "video": manifest["video"],
                "candidates": len(manifest["candidates"]),
                "warnings": manifest.get("warnings", []),
                "variants": _variant_rows(doc),
                "variant_failures": [one_line(f.get("error", "")) for f in made.failures],
                "timings": {k: round(v, 4) for k, v in timings.items()},
                "worker_pid": os.getpid(),
            }
            (tmp / TITLE_FILE).write_text(json.dumps(title, indent=1) + "\n", encoding="utf-8")
            # the title folder is an artbandit output too: a rebuild (--force, a changed video) keeps
            # the files a user put in it (safeio.outdir's one rule)
            OutputFolder(final, "catalog-title", input_key=task.key).write_marker(tmp)
        return title
    except ImagingError as exc:
        return {"failed": stage, "reason": one_line(exc)}
    except OSError as exc:
        return {"failed": stage, "reason": one_line(f"{task.video}: {exc.strerror or exc}")}
    except Exception as exc:  # noqa: BLE001 - one title's bug must not stop the catalogue
        return {"failed": stage, "reason": one_line(f"internal error ({type(exc).__name__}: {exc})")}
