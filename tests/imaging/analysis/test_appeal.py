"""imaging.analysis.appeal: an editor's reading of a finalist (open eyes on a real face)."""

from __future__ import annotations

from imaging.analysis.appeal import open_eyes
from imaging.analysis.faces import confirm_faces, detect_faces
from tests.extract_helpers import BLINK, clip_rgb

OPEN = [36, 37, 38, 39, 40, 46, 48, 50]


def test_a_blink_is_seen_as_closed_eyes_on_a_real_face() -> None:
    f = clip_rgb("carphone_pristine.mp4", [BLINK, *OPEN])
    eyes = {}
    for i, rgb in f.items():
        faces = confirm_faces(rgb, detect_faces(rgb, max_width=480))
        assert faces, i
        eyes[i] = open_eyes(rgb, faces[0])
    assert eyes[BLINK] is not None and eyes[BLINK] < 2
    assert all(eyes[i] == 2 for i in OPEN), eyes
