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
                self._theta = w @ self.action_matrix.T  # (dc, k): x' W a_k
                self._bias = self.action_matrix @ b  # (k,)
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
            {
                "id": f"a{j}",
                "features": ({f"f{i}": round(float(v), 4) for i, v in enumerate(row)} if spec.action_features else {}),
            }
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


def run_policy(
    env: SyntheticEnv, policy: Any, n: int, *, seed: int = 0, on_progress: Callable[[int], None] | None = None
) -> dict[str, float]:
    """Play `policy` (rank/reward) for n rounds; rewards are Bernoulli(E[r]) given at once.

    Returns the progressive average expected reward of the chosen actions (less noisy than the
    realised clicks, same expectation), the realised mean, and the oracle's and uniform's values.
    """
    x, mu, u = env.stream(n, seed)
    actions = env.actions
    offers = getattr(env, "offers", None)  # FreshEnv: new actions at every round
    chosen = np.empty(n, np.int64)
    rank, reward, context = policy.rank, policy.reward, env.context
    for t in range(n):
        if offers is not None:
            actions = offers(t)
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
        "last_quarter": float(got[-max(1, n // 4) :].mean()),
    }


# -- the wide suite: many small worlds, drawn from seeds -------------------------------------------
# Why: the six classes above are close to what the default was tuned on (5 actions, 5 dense features,
# 5,000 rounds), and a peer's benchmark found it behind LinUCB on its own environments. Each class of
# the wide suite fixes how features look and how rewards depend on them; everything else (horizon,
# number of actions, whether actions have features, the non-linearity) is drawn from the instance's
# seed, so no setting can be tuned to one shape. Seeds below HELD_OUT are for tests and tuning; the
# seeds from HELD_OUT on are the held-out half, reported separately and used by nothing else.
FEATURES = ("dense", "scaled", "sparse", "categorical")
REWARDS = ("linear", "nonlinear", "few-best")
HORIZONS = (500, 1000, 2000, 4000)
ACTION_COUNTS = (2, 5, 10, 20, 50)
HELD_OUT = 10_000
LATENT = 5  # the dimension of the context's latent vector the rewards are computed from
SCALES = (0.01, 0.3, 7.0, 100.0, 2500.0)  # "scaled": one feature per order of magnitude or so
TAGS, ACTIVE = 40, 3  # "sparse": 3 of 40 binary tags per context
LEVELS = (6, 4, 9)  # "categorical": three variables with these many levels


@dataclass(frozen=True)
class WideSpec:
    """One class of the wide suite: what the features look like, how rewards depend on them."""

    features: str
    reward: str

    @property
    def name(self) -> str:
        return f"{self.features}/{self.reward}"


WIDE_SUITE: tuple[WideSpec, ...] = tuple(WideSpec(f, r) for f in FEATURES for r in REWARDS)


class WideEnv:
    """A seeded instance of a WideSpec: its horizon, actions, reward function and contexts.

    The rewards are a function of a latent context vector z in R^5: `dense` shows z itself, `scaled`
    shows z times scales from 0.01 to 2,500 (plus offsets), `sparse` draws 3 of 40 tags whose
    embeddings sum to z, `categorical` three categorical variables whose level embeddings sum to z.
    Rewards: `linear` as SyntheticEnv's; `nonlinear` one of a quadratic form per action, RBF bumps
    or nearest-prototype values (drawn); `few-best` one to three actions 0.25-0.4 better on
    average than the rest, which of them is best depending (linearly) on the context."""

    def __init__(self, spec: WideSpec, seed: int) -> None:
        if spec.features not in FEATURES or spec.reward not in REWARDS:
            raise ValueError(f"unknown wide-suite class {spec.name!r}")
        self.spec, self.seed = spec, seed
        rng = np.random.default_rng(
            np.random.SeedSequence([seed, FEATURES.index(spec.features), REWARDS.index(spec.reward), 31])
        )
        self.horizon = int(rng.choice(HORIZONS))
        k = self.n_actions = int(rng.choice(ACTION_COUNTS))
        self.action_features = bool(rng.random() < 0.5)
        d = LATENT
        self.action_matrix = rng.normal(size=(k, d))
        if spec.features == "scaled":
            self._scales = np.array(SCALES)[rng.permutation(d)]
            self._offsets = rng.normal(size=d) * self._scales
        elif spec.features == "sparse":
            self._embed = rng.normal(size=(TAGS, d)) / np.sqrt(ACTIVE)
        elif spec.features == "categorical":
            self._embed = [rng.normal(size=(n, d)) / np.sqrt(len(LEVELS)) for n in LEVELS]
        self.nonlinear = ""
        if spec.reward == "linear":
            self._linear(rng, k, d)
        elif spec.reward == "nonlinear":
            self.nonlinear = str(rng.choice(["quadratic", "rbf", "prototypes"]))
            if self.nonlinear == "quadratic":
                self._quad = rng.normal(size=(k, d, d)) / d
            else:
                self._centres = rng.normal(size=(20, d))
                self._values = (
                    rng.normal(size=(20, d)) @ self.action_matrix.T
                    if self.action_features
                    else rng.normal(size=(20, k))
                )
        else:  # few-best
            self._linear(rng, k, d)
            good = rng.choice(k, size=min(k - 1, int(rng.integers(1, 4))), replace=False)
            self._bonus = np.zeros(k)
            self._bonus[good] = rng.uniform(0.25, 0.4, size=len(good))
        probe = self._latent_sample(np.random.default_rng(12345), 4000)
        raw = self._raw(probe)
        self._offset, self._scale = float(raw.mean()), SPREAD / float(raw.std())
        self.actions = [
            {
                "id": f"a{j}",
                "features": ({f"f{i}": round(float(v), 4) for i, v in enumerate(row)} if self.action_features else {}),
            }
            for j, row in enumerate(self.action_matrix)
        ]

    def _linear(self, rng: np.random.Generator, k: int, d: int) -> None:
        if self.action_features:
            self._theta = rng.normal(size=(d, d)) @ self.action_matrix.T
            self._bias = self.action_matrix @ rng.normal(size=d)
        else:
            self._theta, self._bias = rng.normal(size=(d, k)), rng.normal(size=k)

    def _raw(self, z: np.ndarray) -> np.ndarray:
        if self.spec.reward in ("linear", "few-best"):
            return z @ self._theta + self._bias
        if self.nonlinear == "quadratic":
            return np.einsum("ni,kij,nj->nk", z, self._quad, z)
        d2 = ((z[:, None, :] - self._centres[None, :, :]) ** 2).sum(axis=2)
        if self.nonlinear == "prototypes":
            return self._values[d2.argmin(axis=1)]
        return np.exp(-d2 / (2.0 * LATENT * 0.25)) @ self._values

    def _latent_sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self._latent(self._observe(rng, n))

    def _observe(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n rows of what the policy is shown, before formatting (see `context`)."""
        f = self.spec.features
        if f in ("dense", "scaled"):
            return rng.normal(size=(n, LATENT))
        if f == "sparse":
            return np.argsort(rng.random((n, TAGS)), axis=1)[:, :ACTIVE]
        return np.stack([rng.integers(m, size=n) for m in LEVELS], axis=1)

    def _latent(self, obs: np.ndarray) -> np.ndarray:
        f = self.spec.features
        if f in ("dense", "scaled"):
            return obs
        if f == "sparse":
            return self._embed[obs].sum(axis=1)
        return sum(e[obs[:, j]] for j, e in enumerate(self._embed))

    def means(self, obs: np.ndarray) -> np.ndarray:
        """Expected reward of every action for each row of `obs`: (n, actions)."""
        mu = 0.5 + self._scale * (self._raw(self._latent(obs)) - self._offset)
        if self.spec.reward == "few-best":
            mu = mu - 0.15 + self._bonus  # the rest around 0.35, the good ones 0.6-0.75
        return np.clip(mu, 0.02, 0.98)

    def stream(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """n contexts (as `context` rows), their expected rewards, and uniforms deciding each reward."""
        rng = np.random.default_rng(
            np.random.SeedSequence(
                [self.seed, seed, FEATURES.index(self.spec.features), REWARDS.index(self.spec.reward), 98]
            )
        )
        obs = self._observe(rng, n)
        return obs, self.means(obs), rng.random(n)

    def context(self, row: Sequence[float]) -> dict:
        f = self.spec.features
        if f == "dense":
            return {"x": {f"x{i}": round(float(v), 4) for i, v in enumerate(row)}}
        if f == "scaled":
            return {
                "x": {
                    f"x{i}": round(float(v * s + o), 4)
                    for i, (v, s, o) in enumerate(zip(row, self._scales, self._offsets))
                }
            }
        if f == "sparse":
            return {"tags": {f"t{int(j)}": 1.0 for j in sorted(row)}}
        return {"u": {"country": f"c{int(row[0])}", "device": f"d{int(row[1])}", "genre": f"g{int(row[2])}"}}


# -- fresh actions: new at every round, known only by their features --------------------------------
# Why: every class above offers a fixed set of actions with ids, and coba's benchmark (the peer's own,
# bench/peer_coba.py), where every interaction brings new actions, found the default 1.9 points
# behind LinUCB on features while level on these. A policy can only learn such actions through
# their features; per-action weights (and a per-id LinUCB) learn nothing that carries over.
FRESH_REWARDS = ("linear", "nonlinear", "few-best")
FRESH_SUITE: tuple[WideSpec, ...] = tuple(WideSpec("fresh", r) for r in FRESH_REWARDS)


class FreshEnv:
    """A seeded instance of a fresh-action class: its horizon and number of actions drawn as the wide
    suite's; at every round `k` new actions with 5 dense features (ids never repeat) and a dense
    5-feature context. Rewards: `linear` as coba's (z' W a + b' a); `nonlinear` one of a squared
    bilinear form, RBF bumps or the nearest of 20 prototypes over the joint (context, action)
    vector (coba's neighbours); `few-best` linear plus 0.25-0.4 for the actions whose first feature
    is above 1 (about one in six), so a few actions of each round are far better than the rest."""

    def __init__(self, spec: WideSpec, seed: int) -> None:
        if spec.features != "fresh" or spec.reward not in FRESH_REWARDS:
            raise ValueError(f"unknown fresh-action class {spec.name!r}")
        self.spec, self.seed = spec, seed
        rng = np.random.default_rng(np.random.SeedSequence([seed, FRESH_REWARDS.index(spec.reward), 47]))
        self.horizon = int(rng.choice(HORIZONS))
        self.n_actions = int(rng.choice(ACTION_COUNTS))
        self.action_features = True
        d = LATENT
        self._w, self._b = rng.normal(size=(d, d)), rng.normal(size=d)
        self.nonlinear = ""
        self._bonus = 0.0
        if spec.reward == "nonlinear":
            self.nonlinear = str(rng.choice(["quadratic", "rbf", "prototypes"]))
            self._centres = rng.normal(size=(20, 2 * d))
            self._values = rng.normal(size=20)
        elif spec.reward == "few-best":
            self._bonus = float(rng.uniform(0.25, 0.4))
        probe = np.random.default_rng(12345)
        z, acts = probe.normal(size=(4000, d)), probe.normal(size=(4000, self.n_actions, d))
        raw = self._raw(z, acts)
        self._offset, self._scale = float(raw.mean()), SPREAD / float(raw.std())
        self.actions: list[dict] = []  # none fixed: see offers
        self._offers: np.ndarray | None = None

    def _raw(self, z: np.ndarray, acts: np.ndarray) -> np.ndarray:
        """(n, k) raw scores of the actions `acts` (n, k, d) for the contexts z (n, d)."""
        if self.spec.reward in ("linear", "few-best"):
            return np.einsum("nd,nkd->nk", z @ self._w, acts) + acts @ self._b
        if self.nonlinear == "quadratic":
            return np.einsum("nd,nkd->nk", z @ self._w, acts) ** 2
        out = np.empty(acts.shape[:2])
        for lo in range(0, len(z), 256):  # in chunks: (rows, k, 20 centres, 2d) at once is ~300 MB
            zc, ac = z[lo : lo + 256], acts[lo : lo + 256]
            joint = np.concatenate([np.broadcast_to(zc[:, None, :], ac.shape), ac], axis=2)  # (n, k, 2d)
            d2 = ((joint[:, :, None, :] - self._centres[None, None, :, :]) ** 2).sum(axis=3)  # (n, k, 20)
            if self.nonlinear == "prototypes":
                out[lo : lo + 256] = self._values[d2.argmin(axis=2)]
            else:
                out[lo : lo + 256] = np.exp(-d2 / (2.0 * 2 * LATENT * 0.25)) @ self._values
        return out

    def _means(self, z: np.ndarray, acts: np.ndarray) -> np.ndarray:
        mu = 0.5 + self._scale * (self._raw(z, acts) - self._offset)
        if self._bonus:  # the rest around 0.35, the good ones 0.6-0.75 (as the wide suite's few-best)
            mu = mu - 0.15 + self._bonus * (acts[:, :, 0] > 1.0)
        return np.clip(mu, 0.02, 0.98)

    def stream(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """n contexts, their rounds' expected rewards (n, k), and uniforms deciding each reward; the
        rounds' actions are kept for `offers`."""
        rng = np.random.default_rng(
            np.random.SeedSequence([self.seed, seed, FRESH_REWARDS.index(self.spec.reward), 97])
        )
        z = rng.normal(size=(n, LATENT))
        acts = self._offers = rng.normal(size=(n, self.n_actions, LATENT))
        return z, self._means(z, acts), rng.random(n)

    def offers(self, t: int) -> list[dict]:
        """Round t's actions (of the last `stream`): ids new at every round, 5 features each."""
        assert self._offers is not None, "stream() first"
        return [
            {"id": f"r{t}.{j}", "features": {f"f{i}": round(float(v), 4) for i, v in enumerate(row)}}
            for j, row in enumerate(self._offers[t])
        ]

    def context(self, row: Sequence[float]) -> dict:
        return {"x": {f"x{i}": round(float(v), 4) for i, v in enumerate(row)}}
