"""imaging.artwork.variants: the faces the extract step confirmed are used as they are, and source
photos are never deleted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from PIL import Image

from imaging.artwork.title import MAX_AREA, MIN_SIZE_FRACTION
from imaging.artwork.variants import make_variants
from safeio.outdir import MARKER
from tests.console_helpers import artbandit, snapshot
from tests.extract_helpers import clip_rgb
from tests.variants_helpers import skimage_photo_path


def test_variants_use_the_faces_the_extract_step_confirmed(tmp_path: Path) -> None:
    """A manifest's faces are used as they are: none found at extract time -> none at variant time,
    so a title or crop never moves for a face only a smaller copy 'found'."""
    ext = tmp_path / "extract"
    ext.mkdir()
    shutil.copy(skimage_photo_path("astronaut.png"), ext / "c01.png")
    for faces, expect_any in (([], False), ([[170, 90, 110, 110]], True)):
        (ext / "manifest.json").write_text(
            json.dumps(
                {"schema": "artbandit.candidates/1", "candidates": [{"id": "c01", "file": "c01.png", "faces": faces}]}
            )
        )
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


def test_variants_never_deletes_the_source_photos(tmp_path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("astronaut.png", "coffee.png"):
        shutil.copy(skimage_photo_path(name), photos / name)
    before = snapshot(photos)
    for args in (["-o", str(photos), "--force"], ["-o", str(photos)], ["-o", str(tmp_path), "--force"]):
        proc = artbandit("variants", str(photos), *args, "--aspect", "1:1", "-q")
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert "is an input" in proc.stderr or "contains an input" in proc.stderr, proc.stderr
        assert snapshot(photos) == before
    # an artbandit extract folder is an input too: variants may not write into it
    proc = artbandit("variants", str(photos / "coffee.png"), "-o", str(tmp_path / "v"), "--aspect", "1:1", "-q")
    assert proc.returncode == 0 and (tmp_path / "v" / MARKER).is_file()


# bikes.mp4: the cyclist's helmet and face (a profile: the frontal cascade finds no face), marked by
# hand in source pixels (x0, y0, x1, y1) on frames where he stands at the kerb.
CYCLIST_HEAD = {106: (398, 22, 440, 66), 111: (400, 12, 444, 60), 126: (405, 0, 447, 54)}
# Where the plate of "The Long Ride" went before issue 26's placement (commit 98b4ca7: the crop's own
# saliency, edge density first): the top band, over the helmet, in these variants.
OLD_PLATE = {
    (111, "1:1"): (65, 16, 343, 80),
    (111, "4:5"): (38, 13, 286, 70),
    (126, "2:3"): (22, 11, 247, 63),
    (126, "1:1"): (65, 16, 343, 80),
    (126, "4:5"): (38, 13, 286, 70),
}


def _in_source(box, crop, scale: float) -> tuple[float, float, float, float]:
    return (crop[0] + box[0] / scale, crop[1] + box[1] / scale, crop[0] + box[2] / scale, crop[1] + box[3] / scale)


def _overlap(a, b) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def test_title_plate_keeps_off_a_cyclist_no_face_was_found_for(tmp_path: Path) -> None:
    """Issue 26: the plate sat on the cyclist's helmet and face. It now reads the whole frame's
    saliency (the crop's own map, zoomed in, lost him) and keeps the head-room at the top clear."""
    frames = clip_rgb("bikes.mp4", list(CYCLIST_HEAD))
    src = tmp_path / "frames"
    src.mkdir()
    for i, rgb in frames.items():
        Image.fromarray(rgb).save(src / f"bikes_{i:03d}.png")
    result = make_variants([src], tmp_path / "out", aspects=["16:9", "2:3", "1:1", "4:5"], title="The Long Ride")
    assert not result.failures and len(result.variants) == 12
    old_total = new_total = 0.0
    for v in result.variants:
        frame = int(Path(v["source"]["path"]).stem.split("_")[1])
        crop, w, h = v["crop"], v["width"], v["height"]
        x0, y0, x1, y1 = box = v["title_box"]
        scale = w / (crop[2] - crop[0])
        head = CYCLIST_HEAD[frame]
        new = _overlap(_in_source(box, crop, scale), head)
        assert new == 0, (frame, v["aspect"], box)  # never on his head, in any aspect
        # the size rules still hold: inside the picture, at most MAX_AREA of it, legible, not mid-frame
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        assert (x1 - x0) * (y1 - y0) <= MAX_AREA * w * h
        assert y1 - y0 >= MIN_SIZE_FRACTION * min(w, h)
        assert not 0.3 * h < (y0 + y1) / 2 < 0.7 * h
        old = OLD_PLATE.get((frame, v["aspect"]))
        if old is not None:
            old_total += _overlap(_in_source(old, crop, scale), head)
        new_total += new
    assert old_total > 5 * 400  # the old plates covered most of five heads (~40x50 px each) ...
    assert new_total == 0  # ... the new ones none
