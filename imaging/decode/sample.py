"""A procedural sample video, so `artbandit extract --sample` and `artbandit demo` need no download.

Five visibly different shots (warm sunset, cool blue night, dark high-contrast, bright colourful,
green/teal landscape) of moving textured shapes, joined by hard cuts, a fade through black, an
inserted two-frame white flash, and opening/closing black: every case extraction must handle.
Deterministic under `seed` (same pixels in; the H.264 encoder is run single-threaded).
"""

from __future__ import annotations

import os
from pathlib import Path

import av
import cv2
import numpy as np

from imaging.errors import ImagingError

# (name, sky top colour, sky bottom colour, ground colour, shape colours) in RGB
_LOOKS = [
    ("sunset", (70, 20, 60), (250, 140, 40), (60, 30, 20), [(255, 210, 90), (200, 60, 30)]),
    ("night", (5, 10, 40), (20, 50, 110), (10, 20, 45), [(230, 235, 255), (90, 140, 255)]),
    ("noir", (8, 8, 8), (30, 30, 30), (0, 0, 0), [(250, 250, 250), (160, 160, 160)]),
    ("carnival", (255, 240, 200), (120, 220, 255), (250, 90, 160), [(255, 40, 40), (40, 200, 60), (40, 80, 255)]),
    ("meadow", (120, 200, 220), (200, 240, 230), (40, 140, 60), [(250, 240, 60), (20, 90, 90)]),
]


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Band-limited noise with fine detail, so frames are sharp and not flat."""
    coarse = rng.random((h // 16 + 2, w // 16 + 2)).astype(np.float32)
    fine = rng.random((h // 2 + 1, w // 2 + 1)).astype(np.float32)
    t = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC) * 0.6
    t += cv2.resize(fine, (w, h), interpolation=cv2.INTER_NEAREST) * 0.4
    return t - 0.5


def _background(look, rng, h: int, w: int) -> np.ndarray:
    _, top, bottom, ground, _ = look
    ramp = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    sky = np.asarray(top, np.float32) * (1 - ramp) + np.asarray(bottom, np.float32) * ramp
    img = np.broadcast_to(sky, (h, w, 3)).copy()
    horizon = int(h * 0.68)
    img[horizon:] = np.asarray(ground, np.float32)
    tex = _texture(rng, h, w)[..., None]
    img += tex * np.where(np.arange(h)[:, None, None] >= horizon, 90.0, 40.0)
    return img


class _Shot:
    def __init__(self, look, rng: np.random.Generator, h: int, w: int):
        self.look = look
        self.bg = _background(look, rng, h, 2 * w)  # twice as wide: the camera pans across it
        self.h, self.w = h, w
        n = 7
        self.pos = rng.random((n, 2)) * [w, h * 0.7]
        self.vel = (rng.random((n, 2)) - 0.5) * [w * 0.02, h * 0.02]
        self.size = (0.04 + rng.random(n) * 0.10) * h
        self.colour = [look[4][i % len(look[4])] for i in range(n)]
        self.kind = rng.integers(0, 3, n)
        self.stripes = _texture(rng, h, w)

    def render(self, t: int) -> np.ndarray:
        x = int(t * self.w * 0.004) % self.w
        img = self.bg[:, x : x + self.w].copy()
        for i in range(len(self.pos)):
            cx, cy = (self.pos[i] + self.vel[i] * t) % [self.w, self.h]
            r = int(self.size[i])
            colour = tuple(float(c) for c in self.colour[i])
            if self.kind[i] == 0:
                cv2.circle(img, (int(cx), int(cy)), r, colour, -1, lineType=cv2.LINE_AA)
            elif self.kind[i] == 1:
                cv2.rectangle(img, (int(cx - r), int(cy - r // 2)), (int(cx + r), int(cy + r // 2)), colour, -1)
            else:
                pts = np.array([[cx, cy - r], [cx + r, cy + r], [cx - r, cy + r]], np.int32)
                cv2.fillPoly(img, [pts], colour, lineType=cv2.LINE_AA)
            cv2.circle(img, (int(cx), int(cy)), max(2, r // 4), (20.0, 20.0, 20.0), 2, lineType=cv2.LINE_AA)
        return img


def sample_timeline(seconds: float, fps: int) -> list[tuple[str, int, int]]:
    """(what, first frame, frame count) segments: black, shots, fade, flash."""
    n = int(round(seconds * fps))
    unit = n / 24.0  # proportions of the default 24 s layout
    plan = [
        ("black", 0.5),
        ("shot0", 4.5),
        ("shot1", 4.5),
        ("shot2", 4.0),
        ("fadeout", 1.0),
        ("black", 0.5),
        ("fadein", 1.0),
        ("shot3", 4.0),
        ("shot4", 3.5),
        ("black", 0.5),
    ]
    out, start = [], 0
    for i, (what, length) in enumerate(plan):
        count = n - start if i == len(plan) - 1 else max(1, int(round(length * unit)))
        out.append((what, start, count))
        start += count
    return out


def make_sample_video(
    path: str | os.PathLike,
    *,
    seconds: float = 24.0,
    width: int = 1280,
    height: int = 720,
    fps: int = 25,
    seed: int = 0,
) -> Path:
    """Write the procedural H.264 sample to `path` (atomically) and return the path."""
    if seconds < 4 or width < 64 or height < 64 or fps < 1:
        raise ImagingError("sample video needs seconds >= 4, width/height >= 64 and fps >= 1")
    width, height = width // 2 * 2, height // 2 * 2
    path = Path(path)
    rng = np.random.default_rng(seed)
    shots = [_Shot(look, rng, height, width) for look in _LOOKS]
    timeline = sample_timeline(seconds, fps)
    flash_at = None
    for what, start, count in timeline:
        if what == "shot1":
            flash_at = start + count // 2
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.mp4")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with av.open(str(tmp), mode="w") as out:
            stream = out.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"preset": "veryfast", "crf": "20", "threads": "1"}
            for what, start, count in timeline:
                for j in range(count):
                    frame_no = start + j
                    if what == "black":
                        img = np.zeros((height, width, 3), np.float32)
                    elif what in ("fadeout", "fadein"):
                        src = shots[2] if what == "fadeout" else shots[3]
                        t = j + (int(4 * fps) if what == "fadeout" else 0)
                        level = 1 - (j + 1) / (count + 1) if what == "fadeout" else (j + 1) / (count + 1)
                        img = src.render(t) * level  # type: ignore[assignment]  # float64: encoded below as any
                    else:
                        s = shots[int(what[-1])]
                        t = j + (int(fps) if what == "shot3" else 0)
                        img = s.render(t)
                        if flash_at is not None and frame_no in (flash_at, flash_at + 1):
                            img = np.full_like(img, 250.0)
                    rgb = np.clip(img, 0, 255).astype(np.uint8)
                    for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                        out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


SAMPLE_VERSION = 1  # bump when the sample's content changes, so caches are rebuilt


def default_sample_path() -> Path:
    """Where the cached default sample lives ($XDG_CACHE_HOME/artbandit or ~/.cache/artbandit)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "artbandit" / f"sample-v{SAMPLE_VERSION}.mp4"


def cached_sample_video() -> Path:
    """The default sample video, generated on first use (about 10-20 s) and reused afterwards."""
    path = default_sample_path()
    if not path.is_file():
        make_sample_video(path)
    return path
