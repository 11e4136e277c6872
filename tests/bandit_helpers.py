"""A fixed-seed synthetic audience for bandit tests: the best artwork depends on the viewer."""

from __future__ import annotations

import numpy as np

SEGMENTS = ("action", "romance", "kids")
# variant -> the segment it is best for (two variants per segment, two decoys)
N_VARIANTS = 8


def make_actions() -> list[dict]:
    """8 variants with image-like features: a 'style' that fits one segment, plus numbers."""
    styles = ["explosion", "couple", "cartoon", "explosion", "couple", "cartoon", "title", "title"]
    return [
        {
            "id": f"v{i}",
            "features": {
                "style": styles[i],
                "brightness": round(0.1 + 0.1 * i, 2),
                "faces": float(i % 3),
                "text area": 0.05 * (i % 2),
            },
        }
        for i in range(N_VARIANTS)
    ]


def click_probabilities(segment: str) -> np.ndarray:
    """True click probability per variant: high only for the styles that fit the segment."""
    fit = {"action": "explosion", "romance": "couple", "kids": "cartoon"}[segment]
    return np.array([0.6 if a["features"]["style"] == fit else 0.1 for a in make_actions()])


class Stream:
    """Viewers arriving one by one with a context and the ground-truth click probabilities."""

    def __init__(self, seed: int = 0, users: int = 200) -> None:
        self.rng = np.random.default_rng(seed)
        self.users = [(f"user-{u:04d}@example.com", SEGMENTS[u % 3]) for u in range(users)]

    def next(self) -> tuple[str, dict, np.ndarray]:
        user_id, segment = self.users[int(self.rng.integers(len(self.users)))]
        context = {
            "user": {"segment": segment, "device": ("tv", "phone")[int(self.rng.integers(2))]},
            "time": {"hour": float(self.rng.integers(24)) / 24.0},
        }
        return user_id, context, click_probabilities(segment)


def run(policy, n: int, seed: int = 0) -> float:
    """CTR of `policy` over `n` decisions on the stream (rewards given immediately)."""
    stream = Stream(seed)
    actions = make_actions()
    outcome = np.random.default_rng(seed + 1)
    clicks = 0
    for t in range(n):
        user_id, context, click_p = stream.next()
        d = policy.rank(context, actions, user_id=user_id, now=float(t))
        click = bool(outcome.random() < click_p[d.index])
        clicks += click
        policy.reward(d.event_id, float(click), now=float(t))
    return clicks / n


def play_env(policy, env, stream: tuple, start: int, stop: int) -> list[tuple[int, float]]:
    """Rounds start..stop of a SyntheticEnv (or FreshEnv: new actions every round) stream (contexts,
    mean rewards, coins) with immediate Bernoulli rewards: each decision's (index, probability to
    9 places), to compare two runs."""
    x, mu, u = stream
    offers = getattr(env, "offers", None)
    out = []
    for t in range(start, stop):
        d = policy.rank(env.context(x[t]), env.actions if offers is None else offers(t), now=float(t))
        policy.reward(d.event_id, float(u[t] < mu[t, d.index]), now=float(t))
        out.append((d.index, round(d.probability, 9)))
    return out
