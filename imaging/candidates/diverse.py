"""The top K items by score that are not near-duplicates: best first, one per shot until every shot
is covered, optionally with maximal marginal relevance. Generic over the items (held frames,
finalists); imaging.candidates.finalists calls it for its short list and for the final K."""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

import numpy as np

from imaging.analysis.frame_metrics import difference

T = TypeVar("T")

DUPLICATE_DIFFERENCE = 0.035  # signature difference below which two frames look the same


def top_k_diverse(
    items: Sequence[T],
    k: int,
    *,
    score: Callable[[T], float],
    shot: Callable[[T], int],
    sig: Callable[[T], np.ndarray],
    duplicate: float = DUPLICATE_DIFFERENCE,
    similar: Callable[[T, T], bool] | None = None,
    likeness: Callable[[T, T], float] | None = None,
    diversity: float = 0.0,
) -> list[T]:
    """Up to `k` items ranked by score.

    First pass: the best item of each shot, skipping near-duplicates of what is already picked
    (shot/reverse-shot editing repeats the same set-up across shots). Second pass, only if K is
    not reached: further items from shots already used, still without near-duplicates.
    Near-duplicates: signatures closer than `duplicate` (in place), or `similar(a, b)` true (a
    perceptual test that tolerates movement, imaging.analysis.likeness).
    With `likeness` and `diversity` > 0, each next pick maximises score - diversity x its
    likeness to the closest item already picked (maximal marginal relevance): a set-up not yet
    shown beats another moment of one already shown unless it is much worse.
    """
    order = sorted(items, key=lambda it: -score(it))
    picked: list[T] = []
    used_shots: set[int] = set()

    # each pair is compared once (the loops below ask again for every pick; on quick mode's short
    # list these repeats were a tenth of the time after decoding)
    pair_cache: dict[tuple[int, int], tuple[bool, float]] = {}

    def pair(it: T, p: T) -> tuple[bool, float]:
        key = (id(it), id(p))
        if key not in pair_cache:
            same = difference(sig(it), sig(p)) < duplicate or bool(similar and similar(it, p))
            like = likeness(it, p) if likeness is not None and diversity > 0 and not same else 0.0
            pair_cache[key] = (same, like)
        return pair_cache[key]

    def distinct(it: T) -> bool:
        return not any(pair(it, p)[0] for p in picked)

    def gain(it: T) -> float:
        if likeness is None or diversity <= 0 or not picked:
            return score(it)
        return score(it) - diversity * max(pair(it, p)[1] for p in picked)

    for first_pass in (True, False):
        while len(picked) < k:
            best = None
            for it in order:
                if any(it is p for p in picked) or (first_pass and shot(it) in used_shots) or not distinct(it):
                    continue
                if best is None or gain(it) > gain(best):
                    best = it
                if likeness is None or diversity <= 0:
                    break  # score order: the first eligible item is the best
            if best is None:
                break
            picked.append(best)
            used_shots.add(shot(best))
    return sorted(picked, key=lambda it: -score(it))
