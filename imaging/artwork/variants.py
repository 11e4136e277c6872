"""Artwork variants: every source image x aspect x colour treatment (x title), with features.

Writes one folder (atomically: a temporary sibling renamed into place when complete):
`variants.json` (schema `artbandit.variants/1`), one JPEG per variant, and `variants_sheet.png`.

Ids are stable: sha256 of the source's pixels-on-disk (file bytes) and every option that changes
the output (aspect, width, treatment, title, `ALGORITHM_VERSION`), so the same input and options
always give the same id, wherever the file lives.

Upscaling: a variant is never more than `MAX_UPSCALE` (1.5x) wider than its crop in source pixels.
If `--width` asks for more, the variant is made at the largest allowed width and its entry says
`"upscale_limited": true` (the CLI prints a note), instead of silently inventing pixels.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from imaging.analysis.faces import Box, detect_faces
from imaging.analysis.saliency import crop_saliency, spectral_residual_saliency
from imaging.artwork.crop import Aspect, output_size, parse_aspect, smart_crop
from imaging.artwork.title import render_title
from imaging.artwork.treatments import apply_treatment, check_treatment
from imaging.candidates.manifest import Source, read_manifest
from imaging.choices import DEFAULT_ASPECTS
from imaging.errors import ImagingError
from imaging.features import image_features
from imaging.limits import check_picture_size
from imaging.sheet import tile_images
from safeio.atomic import atomic_dir
from safeio.errors import OutputFolderError, one_line
from safeio.outdir import OutputFolder

SCHEMA = "artbandit.variants/1"
ALGORITHM_VERSION = 3  # 2: stronger warm/cool/muted, bounded title plate, manifest faces (issue 13); 3: plate placed on the whole frame's saliency, head-room (issue 26)
DEFAULT_WIDTH = 640
MAX_UPSCALE = 1.5
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
JPEG_QUALITY = 90
MAX_PIXELS = 80_000_000  # refuse decompression bombs with a clear message


@dataclass
class VariantsResult:
    """What make_variants produced: the variants.json document and per-item failures."""

    out_dir: Path
    document: dict
    failures: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def variants(self) -> list[dict]:
        return self.document["variants"]


def collect_sources(paths: Iterable[str | os.PathLike]) -> tuple[list[Source], list[dict]]:
    """Expand SOURCE arguments into images: files, folders of images, or `extract` output folders.

    Returns (sources, failures): a missing path is a per-item failure, so the rest still runs;
    a manifest from a newer schema raises ImagingError (the whole folder cannot be trusted).
    """
    sources: list[Source] = []
    failures: list[dict] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            manifest = p / "manifest.json"
            if manifest.is_file():
                sources.extend(read_manifest(manifest))
            else:
                found = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
                if not found:
                    failures.append(
                        {
                            "source": str(p),
                            "error": f"{p}: folder has no images ({', '.join(IMAGE_SUFFIXES)}) and no manifest.json",
                        }
                    )
                sources.extend(Source(q) for q in found)
        elif p.is_file() and p.name == "manifest.json":
            sources.extend(read_manifest(p))
        elif p.is_file():
            sources.append(Source(p))
        else:
            failures.append({"source": str(p), "error": f"{p}: no such file or folder"})
    return sources, failures


def load_image(path: Path) -> tuple[np.ndarray, bytes]:
    """RGB uint8 pixels and the file's bytes; any unreadable/non-image/empty file -> ImagingError."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImagingError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not data:
        raise ImagingError(f"{path}: empty file")
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > MAX_PIXELS:
                raise ImagingError(f"{path}: {im.width}x{im.height} is larger than {MAX_PIXELS} pixels")
            check_picture_size(im.width, im.height, f"{path}: image")  # from the header, before decoding
            upright = ImageOps.exif_transpose(im)  # phone/camera photos store rotation in EXIF
            rgb = np.asarray(upright.convert("RGB"))
    except ImagingError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImagingError(f"{path}: not a readable image ({type(exc).__name__})") from None
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ImagingError(f"{path}: image has zero size")
    return rgb, data


def variant_id(source_digest: str, aspect: Aspect, width: int | None, treatment: str, title: str | None) -> str:
    """Stable id: same source bytes and options -> same id."""
    key = json.dumps([ALGORITHM_VERSION, source_digest, aspect.w, aspect.h, width, treatment, title or ""])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def _resize(rgb: np.ndarray, w: int, h: int) -> np.ndarray:
    """Area averaging to shrink (fast, no aliasing), Lanczos to enlarge (within MAX_UPSCALE)."""
    if (w, h) == (rgb.shape[1], rgb.shape[0]):
        return np.ascontiguousarray(rgb)
    shrink = w < rgb.shape[1]
    return cv2.resize(np.ascontiguousarray(rgb), (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LANCZOS4)


def _faces_in(faces: Sequence[Box], crop: tuple[int, int, int, int], scale: float) -> list[Box]:
    """Face boxes clipped to the crop, in the output image's pixels."""
    x0, y0, x1, y1 = crop
    out = []
    for f in faces:
        fx0, fy0 = max(f.x, x0), max(f.y, y0)
        fx1, fy1 = min(f.x + f.w, x1), min(f.y + f.h, y1)
        if fx1 > fx0 and fy1 > fy0:
            out.append(
                Box(
                    int(round((fx0 - x0) * scale)),
                    int(round((fy0 - y0) * scale)),
                    max(1, int(round((fx1 - fx0) * scale))),
                    max(1, int(round((fy1 - fy0) * scale))),
                )
            )
    return out


def make_source_variants(
    source: Source,
    aspects: Sequence[Aspect],
    treatments: Sequence[str],
    *,
    width: int | None = DEFAULT_WIDTH,
    title: str | None = None,
) -> Iterable[tuple[dict, np.ndarray] | dict]:
    """Yield (entry, pixels) per variant of one source, or a failure dict for a variant that failed.

    Loading/decoding errors raise ImagingError (the whole source fails).
    """
    rgb, data = load_image(source.path)
    digest = hashlib.sha256(data).hexdigest()
    faces = list(source.faces) if source.faces is not None else detect_faces(rgb)
    saliency = spectral_residual_saliency(rgb)
    for aspect in aspects:
        try:
            crop = smart_crop(rgb, aspect, faces, saliency)
        except ImagingError as exc:
            yield {"source": str(source.path), "aspect": aspect.label, "error": f"{source.path}: {exc}"}
            continue
        x0, y0, x1, y1 = crop
        ow, oh, limited = output_size(x1 - x0, aspect, width, MAX_UPSCALE)
        base = _resize(rgb[y0:y1, x0:x1], ow, oh)
        vfaces = _faces_in(faces, crop, ow / (x1 - x0))
        vsaliency = crop_saliency(saliency, crop, (rgb.shape[1], rgb.shape[0]))
        for treatment in treatments:
            vid = variant_id(digest, aspect, width, treatment, title)
            try:
                img = apply_treatment(base, treatment)
                title_box = None
                if title:
                    img, layout = render_title(img, title, vfaces, vsaliency)
                    title_box = list(layout.box)
            except ImagingError as exc:
                yield {
                    "source": str(source.path),
                    "aspect": aspect.label,
                    "treatment": treatment,
                    "error": f"{source.path} {aspect.label} {treatment}: {exc}",
                }
                continue
            entry = {
                "id": vid,
                "file": f"{vid}.jpg",
                "source": source.describe(),
                "aspect": aspect.label,
                "width": ow,
                "height": oh,
                "crop": [int(x0), int(y0), int(x1), int(y1)],
                "treatment": treatment,
                "title": title,
                "title_box": title_box,
                "faces": [list(map(int, f)) for f in vfaces],
                "upscale": round(ow / (x1 - x0), 4),
                "upscale_limited": limited,
                "features": image_features(img, faces=vfaces),
            }
            yield entry, img


def check_options(
    out: Path | str,
    *,
    aspects: Sequence[str],
    width: int | None,
    title: str | None,
    treatments: Sequence[str],
    force: bool,
    sources: Sequence[str | os.PathLike] = (),
) -> tuple[list[Aspect], list[str]]:
    """Validate options and the output folder before any work (ImagingError on the first bad one);
    parsed aspects and treatments. `sources` (the SOURCE arguments) may not be or lie in `out`."""
    out = Path(out)
    parsed = _dedupe([parse_aspect(a) for a in aspects], key=lambda a: (a.w, a.h))
    if not parsed:
        raise ImagingError("no --aspect given")
    treats = _dedupe([check_treatment(t) for t in treatments], key=lambda t: t)
    if width is not None and width < 1:
        raise ImagingError(f"--width must be >= 1, got {width}")
    if title is not None and not title.strip():
        raise ImagingError("--title is empty")
    folder = output_folder(out, sources, aspects=parsed, width=width, title=title, treatments=treats)
    try:
        state = folder.check(force=force)
    except OutputFolderError as exc:
        raise ImagingError(str(exc)) from None
    if state == "same" and not force:
        raise ImagingError(f"{out}: already holds these variants; pass --force to make them again")
    return parsed, treats


def output_folder(
    out: Path | str,
    sources: Sequence[str | os.PathLike],
    *,
    aspects: Sequence[Aspect],
    width: int | None,
    title: str | None,
    treatments: Sequence[str],
) -> OutputFolder:
    """The ownership rules for a variants folder: its inputs are the SOURCE arguments (files, image
    folders, extract folders), its key those sources and every option that changes the output."""
    key = {
        "sources": [os.path.realpath(s) for s in sources],
        "aspects": [a.label for a in aspects],
        "width": width,
        "title": title,
        "treatments": list(treatments),
    }
    return OutputFolder(Path(out), "variants", list(sources), key)


def make_variants(
    sources: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    aspects: Sequence[str] = DEFAULT_ASPECTS,
    width: int | None = DEFAULT_WIDTH,
    title: str | None = None,
    treatments: Sequence[str] = ("none",),
    force: bool = False,
    on_source: Callable[[Source], None] | None = None,  # called after each source (progress bars)
) -> VariantsResult:
    """Make every source x aspect x treatment variant and write them to `out_dir` atomically.

    Per-source and per-variant failures are collected (the rest still runs) and listed in the
    result and in variants.json; if nothing at all succeeded, ImagingError is raised and nothing
    is written. Bad options (aspect, treatment, width, existing output without `force`) raise
    before any work.
    """
    out = Path(out_dir)
    parsed, treats = check_options(
        out, aspects=aspects, width=width, title=title, treatments=treatments, force=force, sources=sources
    )
    folder = output_folder(out, sources, aspects=parsed, width=width, title=title, treatments=treats)

    srcs, failures = collect_sources(sources)
    entries: list[dict] = []
    images: list[Image.Image] = []
    seen: set[str] = set()
    limited: dict[str, list[str]] = {}  # source -> variants made smaller than --width
    with atomic_dir(out) as tmp:
        for src in srcs:
            try:
                for item in make_source_variants(src, parsed, treats, width=width, title=title):
                    if isinstance(item, dict):
                        failures.append(item)
                        continue
                    entry, img = item
                    if entry["id"] in seen:  # same file given twice: one copy is enough
                        continue
                    seen.add(entry["id"])
                    buf = io.BytesIO()
                    Image.fromarray(img).save(buf, format="JPEG", quality=JPEG_QUALITY)
                    (tmp / entry["file"]).write_bytes(buf.getvalue())
                    if entry["upscale_limited"]:
                        limited.setdefault(str(src.path), []).append(
                            f"{entry['aspect']} {entry['width']}x{entry['height']}"
                        )
                    entries.append(entry)
                    k = 240.0 / max(img.shape[:2])
                    images.append(
                        Image.fromarray(_resize(img, max(1, round(img.shape[1] * k)), max(1, round(img.shape[0] * k))))
                    )
            except ImagingError as exc:
                failures.append({"source": str(src.path), "error": str(exc)})
            except (cv2.error, ValueError, MemoryError) as exc:  # one odd picture must not stop a batch
                failures.append(
                    {
                        "source": str(src.path),
                        "error": f"{src.path}: cannot process ({type(exc).__name__}: {one_line(str(exc))[:200]})",
                    }
                )
            if on_source is not None:
                on_source(src)
        notes = [
            f"{path}: too small for --width {width} within the {MAX_UPSCALE}x upscale limit; made "
            + ", ".join(dict.fromkeys(sizes))
            for path, sizes in limited.items()
        ]
        if not entries:
            detail = "; ".join(f["error"] for f in failures[:3]) or "no sources"
            more = f" (+{len(failures) - 3} more)" if len(failures) > 3 else ""
            raise ImagingError(f"no variants made: {detail}{more}")
        document = {
            "schema": SCHEMA,
            "options": {
                "aspects": [a.label for a in parsed],
                "width": width,
                "title": title,
                "treatments": list(treats),
                "max_upscale": MAX_UPSCALE,
            },
            "variants": entries,
            "failures": failures,
        }
        (tmp / "variants.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        captions = [f"{e['aspect']} {e['treatment']}" for e in entries]
        cell = 240 if len(images) <= 100 else 160 if len(images) <= 400 else 112  # keep big batches' sheet sane
        tile_images(images, captions, cell=cell).save(tmp / "variants_sheet.png", optimize=False)
        folder.write_marker(tmp)
    return VariantsResult(out, document, failures, notes)


def _dedupe(items: list, key: Callable) -> list:
    seen, out = set(), []
    for it in items:
        k = key(it)
        if k not in seen:
            seen.add(k)
            out.append(it)
    return out
