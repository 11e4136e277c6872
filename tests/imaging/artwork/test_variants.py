"""imaging.artwork.variants: the faces the extract step confirmed are used as they are, and source
photos are never deleted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from imaging.artwork.variants import make_variants
from safeio.outdir import MARKER
from tests.console_helpers import artbandit, snapshot
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
