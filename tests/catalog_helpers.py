"""Tiny catalogues for the catalogue tests: 1.5 s, 320x180 clips with a few shots, and their tables."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np

W, H, FPS = 320, 180, 12

# the real console script of this environment (the tests go through it, as users do)
ARTBANDIT = str(Path(sys.executable).parent / "artbandit")

# small options so each title takes well under a second
FAST = ("-k", "3", "--aspect", "16:9", "--aspect", "1:1", "--width", "160")


def tiny_video(path: Path, seed: int, seconds: float = 1.5) -> Path:
    """A short H.264 clip: three textured shots of different colours, each slowly panning."""
    rng = np.random.default_rng(seed)
    shots = []
    for _ in range(3):
        base = rng.uniform(40, 215, size=3)
        tex = rng.normal(0, 30, size=(H // 6, (W + 60) // 6, 1)).repeat(6, 0).repeat(6, 1)
        shots.append(np.clip(base + tex, 0, 255).astype(np.uint8))
    n = int(seconds * FPS)
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "20", "threads": "1"}
        for i in range(n):
            shot = shots[min(2, i * 3 // n)]
            x = i % 60
            rgb = np.ascontiguousarray(shot[:H, x : x + W])
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def broken_video(path: Path) -> Path:
    """A file named like a video that holds no video."""
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    return path


def write_table(path: Path, rows: list[dict]) -> Path:
    """A catalogue table as CSV (columns from the first row)."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def make_catalogue(folder: Path, n_good: int, broken: int = 0, missing: int = 0) -> Path:
    """titles.csv with n_good tiny clips, `broken` unreadable files and `missing` absent ones."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n_good):
        tiny_video(folder / f"t{i}.mp4", seed=i)
        rows.append({"title_id": f"t{i}", "video": f"t{i}.mp4", "title": f"Title {i}", "genre": "drama"})
    for i in range(broken):
        broken_video(folder / f"broken{i}.mp4")
        rows.append({"title_id": f"broken{i}", "video": f"broken{i}.mp4", "title": "", "genre": "comedy"})
    for i in range(missing):
        rows.append({"title_id": f"missing{i}", "video": f"missing{i}.mp4", "title": "", "genre": ""})
    return write_table(folder / "titles.csv", rows)


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([ARTBANDIT, *args], capture_output=True, text=True, timeout=timeout)
