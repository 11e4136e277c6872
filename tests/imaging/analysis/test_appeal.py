"""imaging.analysis.appeal: an editor's reading of a finalist (open eyes on a real face)."""

from __future__ import annotations

from imaging.analysis.appeal import BLOCKY, CLEAN_BLOCKS, Appeal, judge_damage, open_eyes
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


def test_damage_is_a_flaw_only_when_a_clean_frame_exists() -> None:
    """`blocky` marks the damaged finalists (blockiness >= BLOCKY) when another one is clean
    (< CLEAN_BLOCKS); a clip damaged throughout keeps its frames (and is warned about)."""
    mixed = [Appeal(blockiness=b, block_excess=e) for b, e in ((1.02, 0.1), (1.22, 0.9), (1.14, 0.7), (1.43, 1.5))]
    mixed.append(Appeal(blockiness=1.28, block_excess=0.29))  # bikes.mp4's first keyframe: invisible blocks
    judge_damage(mixed)
    assert [a.flaws for a in mixed] == [[], ["blocky"], [], ["blocky"], []]
    throughout = [Appeal(blockiness=b, block_excess=0.9) for b in (1.06, 1.22, 1.43)]
    judge_damage(throughout)
    assert all(not a.flaws for a in throughout)
    assert CLEAN_BLOCKS < BLOCKY


def test_quantile_is_np_quantile_bit_for_bit() -> None:
    """subject_box's threshold is np.quantile's to the bit (the salient box, sharpness and clarity are
    unchanged) on ties, values one float apart and tiny saliency-like maps, without its numpy.ma import."""
    import numpy as np

    from imaging.analysis.appeal import quantile

    rng = np.random.default_rng(3)
    one = np.float32(0.37)
    maps = [
        rng.random((27, 64)).astype(np.float32),
        rng.integers(0, 4, (36, 64)).astype(np.float32),  # ties
        one + rng.integers(0, 3, 1728).astype(np.float32) * np.spacing(one),  # neighbours one ulp apart
        (rng.random((27, 64)) ** 8 * 1e-4).astype(np.float32),
        np.array([0.5], np.float32),
        rng.random(11),  # float64
    ]
    for m in maps:
        for q in (0.9, 0.1, 0.5, 0.75, 1.0):
            want, got = np.quantile(m, q), quantile(m, q)
            assert type(got) is type(want) and got == want, (m.dtype, q)
            assert np.array_equal(m >= got, m >= want)
