"""`artbandit catalog status`: done / failed / pending of a catalogue folder, read from disk.

Works on a catalogue whose driver was killed: the plan (plan.jsonl) says which titles the run
had, the title folders say which are complete, failures.jsonl which failed in the last finished
run; the rest are pending.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from artbandit.jobs.catalog_build import FAILURES, KIND, PLAN, RUN, is_locked
from artbandit.jobs.catalog_input import CatalogError
from artbandit.jobs.catalog_title import read_title
from safeio.jsonl import iter_jsonl
from safeio.outdir import read_marker


def catalog_status(root: str | Path) -> dict[str, Any]:
    """Counts, state and timings of the catalogue in `root` (CatalogError if it is not one)."""
    root = Path(root)
    marker = read_marker(root) if root.is_dir() else None
    if marker is None or marker.get("kind") != KIND:
        raise CatalogError(f"{root}: not an artbandit catalogue folder")
    try:
        plan = [row for _, row in iter_jsonl(root / PLAN)]
        run = json.loads((root / RUN).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CatalogError(f"{root}: catalogue has no readable plan/run ({exc})") from None
    failed_ids: set[str] = set()
    if (root / FAILURES).is_file():
        failed_ids = {r["title_id"] for _, r in iter_jsonl(root / FAILURES) if r.get("stage") != "variant"}
    done, variants = [], 0
    for row in plan:
        doc = read_title(root / "titles" / row["folder"])
        if doc is not None:
            done.append(row["title_id"])
            variants += len(doc["variants"])
    done_set = set(done)
    failed = [r["title_id"] for r in plan if r["title_id"] in failed_ids and r["title_id"] not in done_set]
    pending = [r["title_id"] for r in plan if r["title_id"] not in done_set and r["title_id"] not in failed_ids]
    state = run.get("state", "unknown")
    if state == "running" and not is_locked(root):
        state = "interrupted"
    return {
        "catalog": str(root),
        "state": state,
        "titles": len(plan),
        "done": len(done),
        "failed": len(failed),
        "pending": len(pending),
        "variants": variants,
        "failed_titles": failed,
        "pending_titles": pending,
        "engine": run.get("engine"),
        "started": run.get("started"),
        "finished": run.get("finished"),
        "timings": run.get("timings", {}),
    }


def format_status(s: dict[str, Any]) -> str:
    """The status as a few lines for people."""
    lines = [
        f"{s['catalog']}: {s['state']}; {s['titles']} titles: {s['done']} done, "
        f"{s['failed']} failed, {s['pending']} pending; {s['variants']} variants"
    ]
    t = s.get("timings") or {}
    if t:
        rate = t.get("titles_per_min")
        lines.append(
            f"last run ({s['engine']}): {t.get('wall_s', 0):.1f} s" + (f", {rate:.1f} titles/min" if rate else "")
        )
        means = t.get("stage_mean_s") or {}
        if means:
            lines.append("per title: " + ", ".join(f"{k.removesuffix('_s')} {v:.2f} s" for k, v in means.items()))
    if s["failed_titles"]:
        lines.append(
            "failed: "
            + ", ".join(map(repr, s["failed_titles"][:10]))
            + (
                f" (+{len(s['failed_titles']) - 10} more, see failures.jsonl)"
                if len(s["failed_titles"]) > 10
                else " (see failures.jsonl)"
            )
        )
    return "\n".join(lines)
