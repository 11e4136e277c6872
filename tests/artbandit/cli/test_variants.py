"""`artbandit variants` end to end: outputs, stable ids, features, manifests, and bad input as one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from artbandit.cli import main, variants as cli_variants
from imaging.artwork.treatments import TREATMENTS
from imaging.artwork.variants import DEFAULT_ASPECTS
from imaging.features import FEATURE_NAMES
from safeio.outdir import MARKER
from tests.variants_helpers import skimage_photo_path


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        main(["variants", *argv])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("astronaut.png", "coffee.png"):
        shutil.copy(skimage_photo_path(name), src / name)
    return src


def load(out: Path) -> dict:
    return json.loads((out / "variants.json").read_text())


def test_cli_uses_the_library_names() -> None:
    assert cli_variants.TREATMENTS is TREATMENTS and cli_variants.DEFAULT_ASPECTS is DEFAULT_ASPECTS


def test_folder_of_images(photos: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    code, stdout, err = run(
        [str(photos), "-o", str(out), "--json", "--quiet", "--treatment", "none", "--treatment", "warm"], capsys
    )
    assert code == 0, err
    summary = json.loads(stdout)
    doc = load(out)
    assert doc["schema"] == "artbandit.variants/1"
    assert summary["variants"] == len(doc["variants"]) == 2 * 4 * 2
    assert (out / "variants_sheet.png").is_file()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [v["file"] for v in doc["variants"]] + ["variants.json", "variants_sheet.png", MARKER]
    )
    for v in doc["variants"]:
        w, h = (int(x) for x in v["aspect"].split(":"))
        with Image.open(out / v["file"]) as im:
            assert im.size == (v["width"], v["height"])
        assert v["width"] * h == v["height"] * w
        x0, y0, x1, y1 = v["crop"]
        assert (x1 - x0) * h == (y1 - y0) * w
        assert list(v["features"]) == list(FEATURE_NAMES)
        assert v["source"]["path"].endswith((".png",))
        if v["source"]["path"].endswith("astronaut.png"):
            assert len(v["faces"]) == 1  # the face is inside every crop ...
            fx, fy, fw, fh = v["faces"][0]
            assert fw == fh and fw > 80  # ... whole (Haar boxes are square; a clipped one would not be)
            assert v["features"]["face_count"] == 0.25
    by_key = {(v["source"]["path"], v["aspect"], v["treatment"]): v for v in doc["variants"]}
    for (path, aspect, treatment), v in by_key.items():
        if treatment == "warm":
            assert v["features"]["warmth"] > by_key[(path, aspect, "none")]["features"]["warmth"]


def test_ids_stable_and_depend_on_options(photos: Path, tmp_path: Path, capsys) -> None:
    args = ["--aspect", "2:3", "--quiet"]
    assert run([str(photos), "-o", str(tmp_path / "a"), *args], capsys)[0] == 0
    moved = tmp_path / "elsewhere"
    shutil.copytree(photos, moved)
    assert run([str(moved), "-o", str(tmp_path / "b"), *args], capsys)[0] == 0
    assert run([str(photos), "-o", str(tmp_path / "c"), *args, "--title", "Night"], capsys)[0] == 0
    ids = [[v["id"] for v in load(tmp_path / d)["variants"]] for d in "abc"]
    assert ids[0] == ids[1] and len(set(ids[0])) == 2
    assert not set(ids[0]) & set(ids[2])


def test_title_variants(photos: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "t"
    code, _, err = run([str(photos / "astronaut.png"), "-o", str(out), "--title", "The Long Night", "-q"], capsys)
    assert code == 0, err
    for v in load(out)["variants"]:
        bx0, by0, bx1, by1 = v["title_box"]
        assert 0 <= bx0 < bx1 <= v["width"] and 0 <= by0 < by1 <= v["height"]
        for fx, fy, fw, fh in v["faces"]:
            assert bx1 <= fx or bx0 >= fx + fw or by1 <= fy or by0 >= fy + fh
        assert v["features"]["text_area"] > 0.02


def test_extract_manifest_source(photos: Path, tmp_path: Path, capsys) -> None:
    ext = tmp_path / "extract"
    (ext / "frames").mkdir(parents=True)
    shutil.copy(photos / "astronaut.png", ext / "frames" / "c0.png")
    manifest = {
        "schema": "artbandit.candidates/1",
        "video": {"path": "x.mp4"},
        "shots": [],
        "candidates": [
            {"id": "c0", "file": "frames/c0.png", "frame": 120, "time_s": 4.8, "shot": 0, "score": 0.9, "features": {}}
        ],
    }
    (ext / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path / "out"
    code, _, err = run([str(ext), "-o", str(out), "--aspect", "16:9", "-q"], capsys)
    assert code == 0, err
    [v] = load(out)["variants"]
    assert v["source"]["frame"] == 120 and v["source"]["time_s"] == 4.8
    # the manifest file itself is accepted too, with the same stable id
    code, _, err = run([str(ext / "manifest.json"), "-o", str(tmp_path / "out1"), "--aspect", "16:9", "-q"], capsys)
    assert code == 0, err
    assert [w["id"] for w in load(tmp_path / "out1")["variants"]] == [v["id"]]
    # a newer schema is refused as one line, and nothing is written
    manifest["schema"] = "artbandit.candidates/2"
    (ext / "manifest.json").write_text(json.dumps(manifest))
    out2 = tmp_path / "out2"
    code, _, err = run([str(ext), "-o", str(out2), "-q"], capsys)
    assert code == 1 and err.count("\n") == 1 and "newer" in err and "Traceback" not in err
    assert not out2.exists()


def one_line_failure(argv: list[str], out: Path, capsys, match: str, code: int = 1) -> None:
    rc, _, err = run([*argv, "-o", str(out), "-q"], capsys)
    assert rc == code
    assert err.count("\n") == 1 and err.startswith("Error:") and match in err, err
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]  # no temp leftovers


def test_bad_inputs_are_one_line_and_write_nothing(photos: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "never"
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    one_line_failure([str(text)], out, capsys, "not a readable image")
    one_line_failure([str(empty)], out, capsys, "empty file")
    one_line_failure([str(tmp_path / "missing.png")], out, capsys, "no such file")
    one_line_failure([str(photos), "--aspect", "0:1"], out, capsys, "must have both sides > 0")
    one_line_failure([str(photos), "--aspect", "abc"], out, capsys, "is not W:H")
    one_line_failure([str(photos), "--treatment", "sepia"], out, capsys, "unknown treatment")
    one_line_failure([str(photos), "--width", "0"], out, capsys, "--width")
    one_line_failure(
        [
            str(photos / "coffee.png"),
            "--aspect",
            "1:1",
            "--width",
            "100",
            "--title",
            "Supercalifragilisticexpialidocious " * 4,
        ],
        out,
        capsys,
        "cannot fit",
    )


def test_batch_keeps_going_and_lists_failures(photos: Path, tmp_path: Path, capsys) -> None:
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    out = tmp_path / "out"
    code, stdout, err = run(
        [str(photos), str(tmp_path / "nope.png"), "-o", str(out), "--aspect", "1:1", "--json", "-q"], capsys
    )
    assert code == 1
    doc = load(out)
    assert len(doc["variants"]) == 2  # astronaut and coffee still made it
    failed = {Path(f["source"]).name for f in doc["failures"]}
    assert failed == {"broken.jpg", "nope.png"}
    assert json.loads(stdout)["failures"] == doc["failures"]
    assert sum(line.startswith("failed:") for line in err.splitlines()) == 2


def test_existing_output_needs_force_and_force_never_takes_a_strangers_folder(
    photos: Path, tmp_path: Path, capsys
) -> None:
    # (this test used to expect --force to wipe keep.txt: issue 13 forbids exactly that)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    for extra in ([], ["--force"]):
        rc, _, err = run([str(photos), "-o", str(out), "--aspect", "1:1", "-q", *extra], capsys)
        assert rc == 1 and "not written by artbandit" in err and (out / "keep.txt").read_text() == "mine"
    (out / "keep.txt").unlink()
    rc, _, err = run([str(photos), "-o", str(out), "--aspect", "1:1", "-q"], capsys)
    assert rc == 0 and len(load(out)["variants"]) == 2
    rc, _, err = run([str(photos), "-o", str(out), "--aspect", "1:1", "-q"], capsys)  # artbandit's own now
    assert rc == 1 and "--force" in err
    rc, _, err = run([str(photos), "-o", str(out), "--aspect", "4:5", "-q", "--force"], capsys)
    assert rc == 0 and [v["aspect"] for v in load(out)["variants"]] == ["4:5", "4:5"]


def test_small_source_is_not_upscaled_beyond_limit(tmp_path: Path, capsys) -> None:
    src = tmp_path / "small.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (90, 160, 3), dtype=np.uint8)).save(src)
    out = tmp_path / "out"
    rc, _, err = run([str(src), "-o", str(out), "--aspect", "16:9", "--width", "1920"], capsys)
    assert rc == 0
    [v] = load(out)["variants"]
    assert v["width"] == 240 and v["height"] == 135 and v["upscale_limited"] is True
    assert "upscale limit" in err


def test_exif_rotation_is_applied(tmp_path: Path, capsys) -> None:
    """A camera JPEG stored landscape with 'rotate 90' in EXIF is cropped as the portrait it shows."""
    img = Image.open(skimage_photo_path("astronaut.png")).convert("RGB").resize((300, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    src = tmp_path / "phone.jpg"
    img.save(src, exif=exif.tobytes())
    out = tmp_path / "out"
    rc, _, err = run([str(src), "-o", str(out), "--aspect", "2:3", "--width", "100", "-q"], capsys)
    assert rc == 0, err
    [v] = load(out)["variants"]
    x0, y0, x1, y1 = v["crop"]
    assert (x1 - x0, y1 - y0) == (200, 300)  # the whole upright 200x300 image, not a slice of 300x200


def test_force_keeps_the_users_files(photos: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    rc, _, err = run([str(photos), "-o", str(out), "--aspect", "1:1", "-q"], capsys)
    assert rc == 0, err
    (out / "notes.txt").write_text("mine")
    rc, _, err = run([str(photos), "-o", str(out), "--aspect", "4:5", "-q", "--force"], capsys)
    assert rc == 0, err
    assert (out / "notes.txt").read_text() == "mine"
    assert [v["aspect"] for v in load(out)["variants"]] == ["4:5", "4:5"]
    # the 1:1 variants are gone: only the new output and the user's file are there
    written = {v["file"] for v in load(out)["variants"]} | {"variants.json", "variants_sheet.png", MARKER}
    assert {p.name for p in out.iterdir()} == written | {"notes.txt"}
