"""`artbandit serve --catalog DIR`: the catalogue that `artbandit catalog build` wrote, read once.

Two uses: rank requests may name a title's variants by id alone and get their image features from
the index (an action that sends features keeps them), and the dashboard shows the variants' images,
served read-only and only as files the index lists (a request names a title and a variant id,
never a path, so nothing outside the catalogue can be reached).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from artbandit.jobs.catalog_index import FEATURE_PREFIX, read_index
from artbandit.jobs.catalog_input import CatalogError
from bandit.errors import BanditError

IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}


class Catalogue:
    """The index's titles and variants (read at start; restart the service to see a rebuilt one)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        try:
            rows = read_index(self.root)
        except CatalogError as exc:  # a BanditError: the CLI prints one line, the service never starts
            raise BanditError(f"--catalog: {exc}") from None
        if not rows or "variant_id" not in rows[0] or "title_id" not in rows[0]:
            raise BanditError(f"--catalog: {self.root}: the catalogue index has no variants")
        self.titles: dict[str, dict[str, Any]] = {}
        self.features: dict[str, dict[str, Any]] = {}  # variant id -> features (unique ids only)
        self.files: dict[tuple[str, str], Path] = {}
        seen: dict[str, int] = {}
        for r in rows:
            tid, vid = str(r["title_id"]), str(r["variant_id"])
            feats = {
                k[len(FEATURE_PREFIX) :]: v for k, v in r.items() if k.startswith(FEATURE_PREFIX) and v is not None
            }
            title = self.titles.setdefault(
                tid, {"id": tid, "title": str(r.get("title") or tid), "genre": r.get("genre"), "variants": []}
            )
            title["variants"].append(
                {
                    "id": vid,
                    "aspect": r.get("aspect"),
                    "treatment": r.get("treatment"),
                    "width": r.get("width"),
                    "height": r.get("height"),
                    "features": feats,
                }
            )
            seen[vid] = seen.get(vid, 0) + 1
            self.features[vid] = feats
            path = (self.root / str(r["file"])).resolve()
            if path.is_relative_to(self.root) and path.suffix.lower() in IMAGE_TYPES:
                self.files[(tid, vid)] = path
        # a variant id two titles share cannot say which features it means: it must send its own
        self.ambiguous = {v for v, n in seen.items() if n > 1}
        for v in self.ambiguous:
            del self.features[v]

    def fill(self, actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Actions without features get their variant's features from the index."""
        out = []
        for a in actions:
            if a.get("features"):
                out.append(a)
                continue
            feats = self.features.get(a["id"])
            if feats is None:
                why = "two titles use that id" if a["id"] in self.ambiguous else "the catalogue has no such variant"
                raise BanditError(f"action {a['id']!r} has no features and {why}: send its features")
            out.append({"id": a["id"], "features": dict(feats)})
        return out

    def actions(self, title_id: str) -> list[dict[str, Any]]:
        """A title's variants as rank actions, in index order (the first is the baseline)."""
        return [{"id": v["id"], "features": dict(v["features"])} for v in self.titles[title_id]["variants"]]

    def image(self, title_id: str, variant_id: str) -> Path | None:
        """The image file of a listed variant, or None (unlisted, or outside the catalogue folder)."""
        path = self.files.get((title_id, variant_id))
        return path if path is not None and path.is_file() else None
