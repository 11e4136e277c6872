"""imaging.candidates.diverse.top_k_diverse: one per shot first, then no near-duplicates.

The hand-made items below were written against the mutants mutmut left alive in
imaging/candidates/diverse.py (docs/testing.md, was tests/test_mutants_select.py). Signatures are
built so that imaging.analysis.frame_metrics.difference is 0.6 x the pixel offset (histogram part
equal): offset 0.5 gives a difference of exactly 0.3, offset 0.05 gives 0.03 (a near-duplicate under
the default 0.035)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imaging.analysis.frame_metrics import SIG_PIXELS, difference, signature
from imaging.candidates.diverse import DUPLICATE_DIFFERENCE, top_k_diverse


@dataclass(eq=False)  # identity, not value: two items may look alike
class Item:
    name: str
    score: float
    shot: int
    level: float  # every signature pixel has this value; the histogram part is shared

    @property
    def sig(self) -> np.ndarray:
        return np.concatenate([np.full(SIG_PIXELS, self.level), np.zeros(16)])


def pick(items, k, **kw) -> list[str]:
    return [
        it.name
        for it in top_k_diverse(items, k, score=lambda i: i.score, shot=lambda i: i.shot, sig=lambda i: i.sig, **kw)
    ]


def test_top_k_diverse_one_per_shot_then_no_duplicates() -> None:
    rng = np.random.default_rng(0)
    greys = [rng.integers(0, 255, (18, 32), dtype=np.uint8) for _ in range(3)]
    sigs = [signature(g, None, None) for g in greys]
    items = [  # (score, shot, sig)
        (0.9, 0, sigs[0]),
        (0.8, 0, sigs[1]),
        (0.7, 1, sigs[0]),  # shot 1 repeats shot 0's picture
        (0.6, 2, sigs[2]),
        (0.5, 2, sigs[2] + 0.001),
    ]
    picked = top_k_diverse(items, 4, score=lambda t: t[0], shot=lambda t: t[1], sig=lambda t: t[2])
    assert [p[0] for p in picked] == [0.9, 0.8, 0.6]


def test_signature_differences_are_what_the_items_assume():
    assert difference(Item("a", 0, 0, 0.0).sig, Item("b", 0, 0, 0.5).sig) == 0.3
    assert abs(difference(Item("a", 0, 0, 0.0).sig, Item("b", 0, 0, 0.05).sig) - 0.03) < 1e-12
    assert DUPLICATE_DIFFERENCE == 0.035


def test_best_of_each_shot_first_then_more_from_used_shots_best_first():
    items = [
        Item("s0-best", 0.9, 0, 0.0),
        Item("s0-second", 0.8, 0, 0.2),
        Item("s1-best", 0.5, 1, 0.4),
        Item("s2-best", 0.3, 2, 0.6),
    ]
    # first pass covers shots 0, 1, 2; only then the second item of shot 0; result ordered by score
    assert pick(items, 3) == ["s0-best", "s1-best", "s2-best"]
    assert pick(items, 4) == ["s0-best", "s0-second", "s1-best", "s2-best"]
    assert pick(items, 1) == ["s0-best"]
    assert pick(items, 0) == []
    assert pick(items, 10) == ["s0-best", "s0-second", "s1-best", "s2-best"]  # no item twice


def test_near_duplicates_are_skipped_in_both_passes():
    items = [
        Item("a", 0.9, 0, 0.0),
        Item("a-again", 0.8, 1, 0.05),
        Item("b", 0.7, 2, 0.5),
        Item("a-too", 0.6, 0, 0.04),
        Item("c", 0.5, 0, 0.9),
    ]
    # a-again (shot 1) and a-too (shot 0, second pass) look like a: never picked
    assert pick(items, 5) == ["a", "b", "c"]
    # with a smaller threshold a-again is distinct enough (difference 0.03 >= 0.02)
    assert pick(items, 5, duplicate=0.02) == ["a", "a-again", "b", "c"]


def test_a_difference_equal_to_the_threshold_is_distinct():
    items = [Item("a", 0.9, 0, 0.0), Item("b", 0.8, 1, 0.5)]
    assert pick(items, 2, duplicate=0.3) == ["a", "b"]
    assert pick(items, 2, duplicate=0.31) == ["a"]


def test_second_pass_keeps_score_order_and_stops_at_k():
    items = [Item("x", 0.9, 0, 0.0), Item("y", 0.8, 0, 0.3), Item("z", 0.7, 0, 0.6), Item("w", 0.95, 1, 0.9)]
    assert pick(items, 3) == ["w", "x", "y"]


def test_each_pair_is_compared_once() -> None:
    """The picking loops ask about the same pair again for every pick; the (costly) structural tests
    run once per pair (quick mode spent a tenth of its time after decoding on the repeats)."""
    items = [Item(f"f{i}", 1.0 - 0.01 * i, i % 4, 0.1 * i) for i in range(10)]
    calls: dict[tuple[str, str], int] = {}

    def count(kind: str):
        def test(a: Item, b: Item):
            calls[(kind, a.name, b.name)] = calls.get((kind, a.name, b.name), 0) + 1
            return False if kind == "similar" else 0.5 * abs(a.level - b.level)

        return test

    names = pick(items, 6, similar=count("similar"), likeness=count("likeness"), diversity=0.4)
    assert len(names) == 6 and calls
    assert max(calls.values()) == 1, max(calls.items(), key=lambda kv: kv[1])
