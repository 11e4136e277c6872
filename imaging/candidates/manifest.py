"""Candidate records and their manifest: what `artbandit extract` found, on disk and back.

`Candidate` / `CandidateSet` are one video's result (schema `artbandit.candidates/1`);
`write_candidates` writes a set as an output folder (images, manifest.json, contact sheet, all or
nothing, under safeio.OutputFolder's rules: `output_folder` says what they are for one video's
output, and imaging.candidates.batch plans with the same); `read_manifest` reads a manifest back as
`Source`s for `artbandit variants` and catalogue jobs, refusing entries that point outside their
folder.
"""

from __future__ import annotations

import csv
import io
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from imaging.analysis.faces import Box
from imaging.choices import IMAGE_FORMATS
from imaging.decode.video import VideoInfo
from imaging.errors import ImagingError
from imaging.sheet import tile_images
from imaging.shots.boundaries import Shot
from safeio.atomic import atomic_dir
from safeio.errors import OutputFolderError
from safeio.outdir import OutputFolder

SCHEMA = "artbandit.candidates/1"
_PIL_SAVE = {"jpg": ("JPEG", {"quality": 92}), "png": ("PNG", {}), "webp": ("WEBP", {"quality": 90})}
FORMATS = {name: _PIL_SAVE[name] for name in IMAGE_FORMATS}  # names: imaging.choices


@dataclass
class Candidate:
    """One picked frame: the cropped full-resolution RGB image and everything known about it."""

    id: str
    frame: int
    time_s: float
    shot: int
    score: float
    image: np.ndarray
    crop: tuple[int, int, int, int]
    faces: list[Box]
    metrics: dict[str, float]
    features: dict[str, float] = field(default_factory=dict)
    look_alike: str | None = None  # a fill-in: id of the candidate it resembles (imaging.analysis.likeness)

    def to_dict(self, file: str | None = None) -> dict:
        h, w = self.image.shape[:2]
        extra = {"look_alike": self.look_alike} if self.look_alike else {}
        return {
            **extra,
            "id": self.id,
            "file": file,
            "frame": self.frame,
            "time_s": round(self.time_s, 3),
            "shot": self.shot,
            "score": round(self.score, 4),
            "width": w,
            "height": h,
            "crop": list(self.crop),
            "faces": [list(b) for b in self.faces],
            "metrics": self.metrics,
            "features": {k: round(float(v), 4) for k, v in self.features.items()},
        }


@dataclass
class CandidateSet:
    """The result of analysing one video (manifest data plus the candidate images)."""

    video: VideoInfo
    mode: str
    shots: list[Shot]
    candidates: list[Candidate]
    crop: tuple[int, int, int, int]
    stats: dict
    warnings: list[str] = field(default_factory=list)
    k: int | None = None  # candidates asked for (part of what identifies the output folder)
    options: dict = field(default_factory=dict)  # min_count, likeness as asked (None: defaults)

    def manifest(self, files: dict[str, str] | None = None) -> dict:
        files = files or {}
        video = self.video.to_dict()
        video["path"] = os.path.abspath(video["path"])
        return {
            "schema": SCHEMA,
            "video": video,
            "mode": self.mode,
            "content_crop": list(self.crop),
            "shots": [s.to_dict() for s in self.shots],
            "candidates": [c.to_dict(files.get(c.id)) for c in self.candidates],
            "stats": self.stats,
            "warnings": self.warnings,
        }


@dataclass(frozen=True)
class Source:
    """One input image and where it came from (a manifest adds frame and time_s)."""

    path: Path
    frame: int | None = None
    time_s: float | None = None
    # faces the extract step found on the full-resolution frame: used as they are, so a face that
    # step did not confirm never appears at variant time (a false positive on an arm, say)
    faces: tuple[Box, ...] | None = None

    def describe(self) -> dict:
        out: dict = {"path": str(self.path)}
        if self.frame is not None:
            out["frame"] = self.frame
        if self.time_s is not None:
            out["time_s"] = self.time_s
        return out


def read_manifest(manifest: Path) -> list[Source]:
    """Candidates of an `artbandit extract` manifest.json as Sources (paths relative to it)."""
    try:
        doc = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImagingError(f"{manifest}: not readable JSON ({exc})") from None
    schema = doc.get("schema") if isinstance(doc, dict) else None
    name, _, version = str(schema).rpartition("/")
    if name != SCHEMA.rsplit("/", 1)[0] or not version.isdigit():
        raise ImagingError(f"{manifest}: schema {schema!r} is not an artbandit candidates manifest (expected {SCHEMA})")
    if int(version) > int(SCHEMA.rsplit("/", 1)[1]):
        raise ImagingError(
            f"{manifest}: schema {schema} is newer than this artbandit supports ({SCHEMA}); upgrade artbandit"
        )
    cands = doc.get("candidates")
    if not isinstance(cands, list):
        raise ImagingError(f"{manifest}: 'candidates' is missing or not a list")
    out = []
    for i, c in enumerate(cands):
        if not isinstance(c, dict) or not isinstance(c.get("file"), str):
            raise ImagingError(f"{manifest}: candidate {i} has no 'file'")
        file = c["file"]
        inside = manifest.parent.resolve()
        target = (manifest.parent / file).resolve()
        if Path(file).is_absolute() or inside not in target.parents:
            raise ImagingError(
                f"{manifest}: candidate {i} 'file' {file!r} points outside the manifest's folder; refusing the manifest"
            )
        frame = c.get("frame")
        time_s = c.get("time_s")
        out.append(
            Source(
                manifest.parent / file,
                int(frame) if isinstance(frame, (int, float)) else None,
                float(time_s) if isinstance(time_s, (int, float)) else None,
                _manifest_faces(c.get("faces")),
            )
        )
    return out


def _manifest_faces(value: object) -> tuple[Box, ...] | None:
    """A candidate's `faces` ([[x, y, w, h], ...]) as boxes; None (detect again) if absent or malformed."""
    if not isinstance(value, list):
        return None
    boxes = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 4 and all(isinstance(v, int) for v in item)):
            return None
        if item[2] <= 0 or item[3] <= 0:
            return None
        boxes.append(Box(*item))
    return tuple(boxes)


KIND = "extract"


def output_key(
    video: str | os.PathLike,
    *,
    k: int,
    mode: str,
    fmt: str,
    min_count: int | None = None,
    likeness: float | None = None,
) -> dict:
    """What makes an extract output 'this one': the video file (path, size, mtime) and the options
    (--min-count and --likeness only when given, so outputs made before they existed still match)."""
    path = os.path.realpath(video)
    try:
        st = os.stat(path)
        size, mtime = st.st_size, st.st_mtime_ns
    except OSError:
        size = mtime = None  # type: ignore[assignment]  # unknown: the key says so
    key = {"video": path, "bytes": size, "mtime_ns": mtime, "k": k, "mode": mode, "format": fmt}
    if min_count is not None:
        key["min_count"] = min_count
    if likeness is not None:
        key["likeness"] = likeness
    return key


def output_folder(
    video: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    k: int,
    mode: str,
    fmt: str,
    min_count: int | None = None,
    likeness: float | None = None,
) -> OutputFolder:
    """The ownership rules for one video's extract output folder."""
    return OutputFolder(
        Path(out_dir), KIND, [video], output_key(video, k=k, mode=mode, fmt=fmt, min_count=min_count, likeness=likeness)
    )


SHOT_LIST = "shots.csv"
SHOT_LIST_COLUMNS = (
    "shot",
    "start_frame",
    "end_frame",
    "start_s",
    "end_s",
    "start_timecode",
    "end_timecode",
    "length_s",
    "transition",
    "end_transition",
    "candidates",
)


def timecode(t: float, fps: float) -> str:
    """HH:MM:SS:FF (non-drop-frame), as an EDL or PySceneDetect's scene list shows it."""
    rate = max(1, round(fps))
    frames = int(round(t * fps))
    s, f = divmod(frames, rate)
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}:{f:02d}"


def shot_list_csv(result: CandidateSet) -> str:
    """The shot list as CSV (one row per shot, its candidates' ids), written next to the manifest."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(SHOT_LIST_COLUMNS)
    fps = result.video.fps or 25.0
    for s in result.shots:
        ids = " ".join(c.id for c in result.candidates if c.shot == s.index)
        w.writerow(
            [
                s.index,
                s.start_frame,
                s.end_frame,
                f"{s.start_s:.3f}",
                f"{s.end_s:.3f}",
                timecode(s.start_s, fps),
                timecode(s.end_s, fps),
                f"{s.end_s - s.start_s:.3f}",
                s.transition,
                s.end_transition,
                ids,
            ]
        )
    return buf.getvalue()


def _time_label(t: float) -> str:
    m, s = divmod(t, 60.0)
    return f"{int(m):02d}:{s:05.2f}"


def write_candidates(
    result: CandidateSet, out_dir: str | os.PathLike, fmt: str = "jpg", *, force: bool = False
) -> Path:
    """Write images, manifest.json and contact_sheet.png into `out_dir`, all or nothing.

    `out_dir` follows safeio.OutputFolder's rules: it may be new or empty, or artbandit's extract
    output of this same video and options (rewritten); another video's output is replaced only with
    `force`; a folder artbandit did not write, or one that is or holds the video, never (ImagingError,
    nothing touched). The folder is built aside and swapped in whole, with artbandit's marker.
    """
    if fmt not in FORMATS:
        raise ImagingError(f"unknown image format {fmt!r}; choose one of {', '.join(FORMATS)}")
    out = Path(out_dir)
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ImagingError(f"{out}: cannot write output, {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ImagingError(f"{out}: cannot write output, {parent} is not writable")
    k = result.k if result.k is not None else len(result.candidates)
    folder = output_folder(result.video.path, out, k=k, mode=result.mode, fmt=fmt, **result.options)
    try:
        folder.check(force=force)
    except OutputFolderError as exc:
        raise ImagingError(str(exc)) from None
    pil_format, options = FORMATS[fmt]
    try:
        with atomic_dir(out) as tmp:
            files = {c.id: f"{c.id}_{c.frame:07d}.{fmt}" for c in result.candidates}
            failed: list[BaseException] = []

            def encode() -> None:
                try:
                    for c in result.candidates:
                        Image.fromarray(c.image).save(tmp / files[c.id], format=pil_format, **options)
                except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread below
                    failed.append(exc)

            # the images are encoded in a second thread while this one builds the contact sheet
            # (PIL's encoders and OpenCV's resize release the GIL): the same bytes, ~40 ms sooner
            # for six 1080p candidates on two cores (a tenth of what follows the decoding pass)
            encoder = threading.Thread(target=encode, name="artbandit-encode", daemon=True)
            encoder.start()
            try:
                _write_sheet_and_manifest(result, tmp, files)
            finally:
                encoder.join()
            if failed:
                raise failed[0]
            folder.write_marker(tmp)
    except OSError as exc:
        raise ImagingError(f"{out}: cannot write output ({exc.strerror or exc})") from None
    return out / "manifest.json"


def _write_sheet_and_manifest(result: CandidateSet, tmp: Path, files: dict[str, str]) -> None:
    """contact_sheet.png, shots.csv and manifest.json of `result` into the folder being built."""
    images, captions = [], []
    for c in result.candidates:
        h, w = c.image.shape[:2]
        scale = min(1.0, 640.0 / max(h, w))  # the sheet needs small copies only
        small = (
            cv2.resize(c.image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
            if scale < 1
            else c.image
        )
        images.append(Image.fromarray(small))
        captions.append(f"{c.id}  {_time_label(c.time_s)}  shot {c.shot}  {c.score:.2f}")
    manifest = result.manifest(files)
    manifest["shot_list"] = SHOT_LIST
    (tmp / SHOT_LIST).write_text(shot_list_csv(result), encoding="utf-8", newline="")
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    buf = io.BytesIO()
    tile_images(images, captions).save(buf, format="PNG", compress_level=3)
    (tmp / "contact_sheet.png").write_bytes(buf.getvalue())
