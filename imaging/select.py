"""Pick K diverse candidates: best first, one per shot until every shot is covered, no near-duplicates."""
from __future__ import annotations

from typing import Callable, Sequence, TypeVar

import numpy as np

from imaging.frame_metrics import difference

T = TypeVar("T")

DUPLICATE_DIFFERENCE = 0.035  # signature difference below which two frames look the same


def select_diverse(
    items: Sequence[T],
    k: int,
    *,
    score: Callable[[T], float],
    shot: Callable[[T], int],
    sig: Callable[[T], np.ndarray],
    duplicate: float = DUPLICATE_DIFFERENCE,
    similar: Callable[[T, T], bool] | None = None,
) -> list[T]:
    """Up to `k` items ranked by score.

    First pass: the best item of each shot, skipping near-duplicates of what is already picked
    (shot/reverse-shot editing repeats the same set-up across shots). Second pass, only if K is
    not reached: further items from shots already used, still without near-duplicates.
    Near-duplicates: signatures closer than `duplicate` (in place), or `similar(a, b)` true (a
    perceptual test that tolerates movement, imaging.similar).
    """
    order = sorted(items, key=lambda it: -score(it))
    picked: list[T] = []
    used_shots: set[int] = set()

    def distinct(it: T) -> bool:
        return all(difference(sig(it), sig(p)) >= duplicate and not (similar and similar(it, p))
                   for p in picked)

    for it in order:
        if len(picked) >= k:
            break
        if shot(it) not in used_shots and distinct(it):
            picked.append(it)
            used_shots.add(shot(it))
    for it in order:
        if len(picked) >= k:
            break
        if not any(it is p for p in picked) and distinct(it):
            picked.append(it)
    return sorted(picked, key=lambda it: -score(it))
