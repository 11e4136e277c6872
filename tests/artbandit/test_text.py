"""Messages read as a person would write them: '1 candidate from 1 shot', and a note every source
repeats printed once with a count."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner
from PIL import Image

from artbandit.text import grouped_notes, plural


def test_plural():
    assert [plural(n, "candidate") for n in (0, 1, 2, 1000)] == [
        "0 candidates",
        "1 candidate",
        "2 candidates",
        "1,000 candidates",
    ]
    assert (plural(1, "shot"), plural(3, "shot"), plural(1, "title"), plural(2, "title")) == (
        "1 shot",
        "3 shots",
        "1 title",
        "2 titles",
    )
    assert (plural(2, "policy"), plural(2, "day"), plural(2, "match"), plural(2, "child", "children")) == (
        "2 policies",
        "2 days",
        "2 matches",
        "2 children",
    )


def test_grouped_notes_counts_repeats_and_keeps_the_rest():
    msg = "too small for --width 640 within the 1.5x upscale limit; made 2:3 100x150"
    notes = [f"/in/img{i}.jpg: {msg}" for i in range(7)] + ["/in/odd.png: grey-scale, converted"]
    assert grouped_notes(notes) == [
        f"{msg} (7 sources: img0.jpg, img1.jpg, img2.jpg, ...)",
        "/in/odd.png: grey-scale, converted",
    ]
    assert grouped_notes(["no source prefix", "no source prefix", "other"]) == ["no source prefix (2 times)", "other"]
    assert grouped_notes([]) == []


def test_variants_cli_prints_a_repeated_note_once(tmp_path):
    from artbandit.cli import cli

    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):  # 4 small images: each is upscale-limited at --width 640
        Image.fromarray(rng.integers(0, 255, (150, 100, 3), dtype=np.uint8)).save(src / f"img{i}.jpg")
    res = CliRunner().invoke(cli, ["variants", str(src), "-o", str(tmp_path / "out"), "--aspect", "2:3"])
    assert res.exit_code == 0, res.output
    notes = [line for line in res.output.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "(4 sources: img0.jpg, img1.jpg, img2.jpg, ...)" in notes[0], res.output
    assert "4 variants ->" in res.output
