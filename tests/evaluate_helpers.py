"""Logs with known truths for the evaluate tests: a uniform log of a synthetic world where the
reward depends strongly on namespace `main`, weakly on `minor`, not at all on `noise`, and a
`session` namespace holding a fresh id per event (id-like)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

K = 4


def truth(x: np.ndarray, theta: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Expected reward per action for context rows x (n, 5): main = x[:, :3], minor = x[:, 3:]."""
    return np.clip(0.45 + 0.3 * np.tanh(x[:, :3] @ theta) + 0.04 * (x[:, 3:] @ w), 0.02, 0.98)


def world(seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    rng = np.random.default_rng(seed)
    theta, w = rng.normal(size=(3, K)), rng.normal(size=(2, K))
    actions = [{"id": f"a{j}", "features": {}} for j in range(K)]
    return theta, w, actions


def context(row: np.ndarray, noise: float, t: int) -> dict:
    return {
        "main": {f"m{i}": round(float(row[i]), 3) for i in range(3)},
        "minor": {f"n{i}": round(float(row[3 + i]), 3) for i in range(2)},
        "noise": {"z": round(noise, 3)},
        "session": {"sid": f"s{t:07d}", "ts": 1.7e9 + 30.0 * t},
    }


def write_uniform_log(path: Path, n: int, seed: int = 0) -> None:
    """n uniform-random decisions with rewards, logged by artbandit's own EventLog."""
    from bandit import UniformPolicy

    theta, w, actions = world(seed)
    rng = np.random.default_rng(seed + 1)
    x = rng.normal(size=(n, 5))
    mu = truth(x, theta, w)
    noise, u = rng.normal(size=n), rng.random(n)
    policy = UniformPolicy(seed=seed, log=path, reward_wait_s=0.0)
    for t in range(n):
        d = policy.rank(context(x[t], noise[t], t), actions, now=float(t))
        policy.reward(d.event_id, 1.0 if u[t] < mu[t, d.index] else 0.0, now=float(t))
    policy.close()
