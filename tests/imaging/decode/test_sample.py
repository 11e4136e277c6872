"""imaging.decode.sample: the procedural sample video is deterministic and has the shots it claims."""

from __future__ import annotations

from pathlib import Path

from imaging.candidates.extract import extract_candidates
from imaging.decode.sample import make_sample_video, sample_timeline


def test_sample_video_is_deterministic_and_has_its_shots(tmp_path: Path) -> None:
    a = make_sample_video(tmp_path / "a.mp4", seconds=8, width=320, height=180, seed=1)
    b = make_sample_video(tmp_path / "b.mp4", seconds=8, width=320, height=180, seed=1)
    assert a.read_bytes() == b.read_bytes()
    result = extract_candidates(a, k=8, mode="thorough")
    timeline = sample_timeline(8, 25)
    shot_starts = [start for what, start, _ in timeline if what.startswith("shot")]
    assert len(result.shots) == 5
    assert sum(s.transition == "fade" for s in result.shots) == 2  # after the opening black and the fade
    cut_starts = [s.start_frame for s in result.shots if s.transition == "cut"]
    assert cut_starts and all(min(abs(c - t) for t in shot_starts) <= 1 for c in cut_starts)
    flash = [start + count // 2 for what, start, count in timeline if what == "shot1"][0]
    assert not {c.frame for c in result.candidates} & {flash, flash + 1}
    assert len({c.shot for c in result.candidates}) == 5
