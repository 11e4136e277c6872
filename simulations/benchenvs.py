"""Standard synthetic contextual-bandit environments, and a runner that plays any policy on them.

Why here: the personalizer's defaults were tuned on the project's own simulator only. These are the
environments of the literature (5 actions, 5 context features, 5 action features, Bernoulli rewards,
contexts that never repeat), so a default can be checked on worlds nobody here designed:

- linear:     E[r] = 0.5 + s * (x' W a_k + b' a_k)          (LinUCB's own model)
- neighbours: E[r] = 0.5 + s * v[nearest prototype of x, k]  (piecewise constant: non-linear)
- kernel:     E[r] = 0.5 + s * sum_m rbf(x, c_m) v[m, k]     (smooth, non-linear)
each "with action features" (a_k ~ N(0, I_5) given to the policy, and the reward goes through them)
or "without" (the policy sees only action ids; the per-action weights are free).
The scale s makes the expected rewards' spread 0.15 around 0.5 (clipped to [0.02, 0.98]).
`run_policy` plays a bandit.Policy through rank/reward exactly as a service would and reports the
average expected reward of the actions it chose (progressive: collected while learning).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

KINDS = ("linear", "neighbours", "kernel")
SPREAD = 0.15  # sd of the expected reward around 0.5 over contexts and actions


@dataclass(frozen=True)
class EnvSpec:
    """One environment class: how rewards depend on context and actions."""

    kind: str
    action_features: bool
    actions: int = 5
    context_dim: int = 5
    action_dim: int = 5
    prototypes: int = 20  # neighbours / kernel centres

    @property
    def name(self) -> str:
        return f"{self.kind}{'+af' if self.action_features else ''}"


SUITE: tuple[EnvSpec, ...] = tuple(EnvSpec(k, af) for k in KINDS for af in (True, False))


class SyntheticEnv:
    """A seeded instance of an EnvSpec: fixed actions and reward function, a stream of contexts."""

    def __init__(self, spec: EnvSpec, seed: int) -> None:
        if spec.kind not in KINDS:
            raise ValueError(f"unknown environment kind {spec.kind!r} (choose from {', '.join(KINDS)})")
        self.spec, self.seed = spec, seed
        rng = np.random.default_rng(np.random.SeedSequence([seed, KINDS.index(spec.kind), spec.action_features]))
        k, dc, da, m = spec.actions, spec.context_dim, spec.action_dim, spec.prototypes
        self.action_matrix = rng.normal(size=(k, da))  # a_k
        if spec.kind == "linear":
            if spec.action_features:
                w, b = rng.normal(size=(dc, da)), rng.normal(size=da)
                self._theta = w @ self.action_matrix.T          # (dc, k): x' W a_k
                self._bias = self.action_matrix @ b             # (k,)
            else:
                self._theta = rng.normal(size=(dc, k))
                self._bias = rng.normal(size=k)
        else:
            self._centres = rng.normal(size=(m, dc))
            if spec.action_features:
                self._values = rng.normal(size=(m, da)) @ self.action_matrix.T  # (m, k)
            else:
                self._values = rng.normal(size=(m, k))
        # scale so that the raw scores' spread is SPREAD (estimated once on a fixed sample)
        probe = np.random.default_rng(12345).normal(size=(4000, dc))
        raw = self._raw(probe)
        self._offset, self._scale = float(raw.mean()), SPREAD / float(raw.std())
        self.actions = [
            {"id": f"a{j}", "features": ({f"f{i}": round(float(v), 4) for i, v in enumerate(row)}
                                         if spec.action_features else {})}
            for j, row in enumerate(self.action_matrix)
        ]

    def _raw(self, x: np.ndarray) -> np.ndarray:
        kind = self.spec.kind
        if kind == "linear":
            return x @ self._theta + self._bias
        d2 = ((x[:, None, :] - self._centres[None, :, :]) ** 2).sum(axis=2)  # (n, m)
        if kind == "neighbours":
            return self._values[d2.argmin(axis=1)]
        weights = np.exp(-d2 / (2.0 * self.spec.context_dim * 0.25))
        return weights @ self._values

    def means(self, x: np.ndarray) -> np.ndarray:
        """Expected reward of every action for each context row: (n, actions)."""
        return np.clip(0.5 + self._scale * (self._raw(x) - self._offset), 0.02, 0.98)

    def stream(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """n contexts (never repeating), their expected rewards, and uniforms deciding each reward."""
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, seed, 99]))
        x = rng.normal(size=(n, self.spec.context_dim))
        return x, self.means(x), rng.random(n)

    @staticmethod
    def context(row: Sequence[float]) -> dict:
        return {"x": {f"x{i}": round(float(v), 4) for i, v in enumerate(row)}}


def run_policy(env: SyntheticEnv, policy: Any, n: int, *, seed: int = 0,
               on_progress: Callable[[int], None] | None = None) -> dict[str, float]:
    """Play `policy` (rank/reward) for n rounds; rewards are Bernoulli(E[r]) given at once.

    Returns the progressive average expected reward of the chosen actions (less noisy than the
    realised clicks, same expectation), the realised mean, and the oracle's and uniform's values.
    """
    x, mu, u = env.stream(n, seed)
    actions = env.actions
    chosen = np.empty(n, np.int64)
    rank, reward, context = policy.rank, policy.reward, env.context
    for t in range(n):
        d = rank(context(x[t]), actions, now=float(t))
        chosen[t] = d.index
        reward(d.event_id, 1.0 if u[t] < mu[t, d.index] else 0.0, now=float(t))
        if on_progress is not None and t % 1000 == 999:
            on_progress(1000)
    got = mu[np.arange(n), chosen]
    return {
        "reward": float(got.mean()),
        "realised": float((u < got).mean()),
        "oracle": float(mu.max(axis=1).mean()),
        "uniform": float(mu.mean()),
        "last_quarter": float(got[-max(1, n // 4):].mean()),
    }
