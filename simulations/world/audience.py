"""The simulated audience: viewers in segments, observable context, hidden tastes and title affinity.

What a service would see (context) only *hints* at the segment: country and device are skewed per
segment, the genre history is a noisy draw around the segment's mix. The tastes (weights over the
taste attributes of `scenarios.ATTRIBUTES`) and the per-title affinity stay hidden; they are what
makes click probabilities exact, so oracle and regret are exact too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulations.world.scenarios import ATTRIBUTES, COUNTRIES, DEVICES, Scenario

TIMES_OF_DAY = ("morning", "afternoon", "evening", "night")
TOD_P = np.array([0.15, 0.25, 0.45, 0.15])


def _skewed(weights: dict[str, float], names: tuple[str, ...]) -> np.ndarray:
    p = np.array([float(weights.get(n, 1.0)) for n in names])
    return p / p.sum()


@dataclass
class Audience:
    """All viewers of a run (arrays indexed by viewer) plus their cached bandit contexts."""

    segment_names: list[str]
    segment: np.ndarray  # (U,) segment index
    tastes: np.ndarray  # (phases, U, A) hidden attribute weights; phase 1 = after drift
    affinity: np.ndarray  # (U, T) hidden title affinity (logit)
    user_ids: list[str]
    user_context: list[dict[str, float | str]]  # without time of day
    _ctx_cache: dict[tuple[int, int], dict[str, float | str]]

    def context(self, user: int, tod: int) -> dict[str, float | str]:
        """The `user` namespace of the bandit context (cached per viewer and time of day)."""
        key = (user, tod)
        ctx = self._ctx_cache.get(key)
        if ctx is None:
            ctx = dict(self.user_context[user])
            ctx["tod"] = TIMES_OF_DAY[tod]
            self._ctx_cache[key] = ctx
        return ctx


def build_audience(scenario: Scenario, title_genres: list[str], rng: np.random.Generator) -> Audience:
    """Draw every viewer: segment, traits, genre history, individual tastes and title affinities."""
    segs = scenario.segments
    n_users, n_seg = scenario.users, len(segs)
    attrs = list(ATTRIBUTES)
    genres = tuple(scenario.genres)
    seg_p = np.array([s.weight for s in segs], dtype=float)
    segment = rng.choice(n_seg, size=n_users, p=seg_p / seg_p.sum())

    seg_taste = np.array([[s.tastes.get(a, 0.0) for a in attrs] for s in segs])  # (S, A)
    if n_seg > 1:  # drift: each segment takes on the next segment's taste
        drifted = np.roll(seg_taste, -1, axis=0)
    else:
        drifted = -seg_taste
    deviation = rng.normal(0.0, scenario.segment_noise, size=(n_users, len(attrs)))
    tastes = np.stack([seg_taste[segment] + deviation, drifted[segment] + deviation])

    country = np.empty(n_users, dtype=np.int64)
    device = np.empty(n_users, dtype=np.int64)
    history = np.empty((n_users, len(genres)))
    sharp = 2.0 / max(scenario.history_noise, 0.05)
    for s, seg in enumerate(segs):
        idx = np.flatnonzero(segment == s)
        country[idx] = rng.choice(len(COUNTRIES), size=idx.size, p=_skewed(seg.countries, COUNTRIES))
        device[idx] = rng.choice(len(DEVICES), size=idx.size, p=_skewed(seg.devices, DEVICES))
        alpha = 0.5 + sharp * np.array([float(seg.genres.get(g, 0.0)) for g in genres])
        history[idx] = rng.dirichlet(alpha, size=idx.size)

    # title affinity: how much the viewer's history likes the title's genre, plus taste noise
    g_index = {g: i for i, g in enumerate(genres)}
    tg = np.array([g_index.get(g, 0) for g in title_genres])
    affinity = np.clip(len(genres) * history[:, tg] - 1.0, -1.5, 2.5) * scenario.affinity_scale
    affinity += rng.normal(0.0, 0.3 * scenario.affinity_scale, size=affinity.shape)

    user_ids = [f"u{u:07d}" for u in range(n_users)]
    hist_r = np.round(history, 2)
    top = history.argmax(axis=1)
    user_context: list[dict[str, float | str]] = []
    for u in range(n_users):
        ctx: dict[str, float | str] = {
            "country": COUNTRIES[country[u]],
            "device": DEVICES[device[u]],
            "top_genre": genres[top[u]],
        }
        for gi, g in enumerate(genres):
            ctx[f"h_{g}"] = float(hist_r[u, gi])
        user_context.append(ctx)
    return Audience(
        segment_names=[s.name for s in segs],
        segment=segment,
        tastes=tastes,
        affinity=affinity,
        user_ids=user_ids,
        user_context=user_context,
        _ctx_cache={},
    )
