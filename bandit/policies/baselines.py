"""Baselines behind the same Rank/Reward interface, so simulations compare like with like.

- UniformPolicy: every action equally likely (the exploration traffic replay needs).
- ThompsonPerTitle: Beta-Bernoulli Thompson sampling per action id, ignoring the viewer: the A/B-test
  approach (one best artwork for everyone). Its pmf is P(action wins the posterior draw), estimated
  with a fixed number of draws from a generator seeded by the model state, so `predict` is
  repeatable and the logged probability is the pmf entry the action was sampled from.
- LinUCB: disjoint LinUCB (one ridge regression per action id over the hashed context), updated with
  Sherman-Morrison; greedy on the upper confidence bound with an epsilon floor so that it has
  propensities for off-policy evaluation.
Action ids should be unique across titles (e.g. prefix the title) because the per-action statistics
are keyed by id.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from bandit.errors import BanditError
from bandit.features import ActionEntry, check_features
from bandit.policies.base import Policy


class UniformPolicy(Policy):
    """Uniform random choice; learning is a no-op."""

    name = "uniform"

    def _pmf(self, prepared: Any, entries: list[ActionEntry]) -> np.ndarray:
        return np.full(len(entries), 1.0 / len(entries))

    def _update(
        self, prepared: Any, entries: list[ActionEntry], index: int, reward01: float, probability: float
    ) -> None:
        return None


class ThompsonPerTitle(Policy):
    """Per-action Beta(1 + successes, 1 + failures) posteriors; rewards in [0, 1] count fractionally.

    Why a refreshed pmf: estimating P(wins) costs `draws` x K Beta samples (~200 us), more than
    everything else in a decision. The pmf of an action set is recomputed after each of its first
    100 updates and then whenever its update count grows by another 2%, inside `_update`, so it
    depends only on the learning history (never on how often `predict` was called) and the logged
    probability is still exactly the pmf the action was sampled from.
    """

    name = "ts-per-title"

    def __init__(self, *, draws: int = 256, **options: Any) -> None:
        super().__init__(**options)
        if draws < 1:
            raise BanditError("draws must be >= 1")
        self.draws = int(draws)
        self._stats: dict[str, list[float]] = {}
        self._cached: dict[tuple[str, ...], tuple[int, np.ndarray]] = {}  # ids -> (updates, pmf)

    def _pmf(self, prepared: Any, entries: list[ActionEntry]) -> np.ndarray:
        hit = self._cached.get(tuple(e.id for e in entries))
        return hit[1].copy() if hit is not None else self._win_rates(entries)

    def _win_rates(self, entries: list[ActionEntry]) -> np.ndarray:
        k = len(entries)
        stats = self._stats
        alpha = np.empty(k)
        beta = np.empty(k)
        for i, entry in enumerate(entries):
            s = stats.get(entry.id)
            alpha[i], beta[i] = (1.0, 1.0) if s is None else (1.0 + s[0], 1.0 + s[1])
        rng = np.random.default_rng((self.seed, self.n_learned))  # repeatable: predict changes nothing
        samples = rng.beta(alpha, beta, size=(self.draws, k))
        wins = np.bincount(samples.argmax(axis=1), minlength=k)
        return wins / self.draws

    def _update(
        self, prepared: Any, entries: list[ActionEntry], index: int, reward01: float, probability: float
    ) -> None:
        s = self._stats.setdefault(entries[index].id, [0.0, 0.0])
        s[0] += reward01
        s[1] += 1.0 - reward01
        key = tuple(e.id for e in entries)
        updates = self._cached[key][0] + 1 if key in self._cached else 1
        if updates <= 100 or updates % max(1, updates // 50) == 0:
            self._cached[key] = (updates, self._win_rates(entries))
        else:
            self._cached[key] = (updates, self._cached[key][1])


class LinUCB(Policy):
    """Disjoint LinUCB over hashed context features with an epsilon floor."""

    name = "linucb"

    def __init__(
        self, *, alpha: float = 1.0, dims: int = 32, epsilon: float = 0.05, ridge: float = 1.0, **options: Any
    ) -> None:
        super().__init__(**options)
        if dims < 2:
            raise BanditError("dims must be >= 2")
        self.alpha = float(alpha)
        self.dims = int(dims)
        self.epsilon = float(epsilon)
        self.ridge = float(ridge)
        self._slot: dict[str, int] = {}
        self._a_inv = np.empty((0, self.dims, self.dims))
        self._b = np.empty((0, self.dims))
        self._theta = np.empty((0, self.dims))
        self._index: dict[tuple, int] = {}

    def _prepare(self, context: dict) -> np.ndarray:
        """Hash (namespace, name[, value]) into `dims - 1` buckets; bucket 0 is the bias."""
        try:
            return self._hashed(context)
        except (TypeError, ValueError):  # a nested or non-numeric value: say which, in one line
            for ns, feats in context.items():
                check_features(feats, f"context[{ns!r}]")
            raise

    def _hashed(self, context: dict) -> np.ndarray:
        x = [0.0] * self.dims  # a Python list: item updates on a numpy array cost more
        x[0] = 1.0
        index = self._index
        for ns, feats in context.items():
            for name, value in feats.items():
                is_str = type(value) is str
                key = (ns, name, value) if is_str else (ns, name)
                j = index.get(key)
                if j is None:
                    j = 1 + zlib.crc32("\x00".join(map(str, key)).encode()) % (self.dims - 1)
                    if len(index) < 1_000_000:
                        index[key] = j
                x[j] += 1.0 if is_str else float(value)
        return np.array(x)

    def _slots(self, entries: list[ActionEntry], create: bool) -> list[int]:
        slots = []
        for entry in entries:
            s = self._slot.get(entry.id)
            if s is None:
                if not create:
                    slots.append(-1)
                    continue
                s = self._grow(entry.id)
            slots.append(s)
        return slots

    def _grow(self, action_id: str) -> int:
        s = len(self._slot)
        if s >= self._a_inv.shape[0]:
            n = max(8, 2 * self._a_inv.shape[0])
            d = self.dims
            a_inv = np.empty((n, d, d))
            a_inv[:s] = self._a_inv[:s]
            self._a_inv = a_inv
            self._b = np.concatenate([self._b[:s], np.zeros((n - s, d))])
            self._theta = np.concatenate([self._theta[:s], np.zeros((n - s, d))])
        self._a_inv[s] = np.eye(self.dims) / self.ridge
        self._b[s] = 0.0
        self._theta[s] = 0.0
        self._slot[action_id] = s
        return s

    def _pmf(self, prepared: np.ndarray, entries: list[ActionEntry]) -> np.ndarray:
        k = len(entries)
        x = prepared
        slots = self._slots(entries, create=False)
        known = [i for i, s in enumerate(slots) if s >= 0]
        # an unseen action has theta 0 and A^-1 = I / ridge
        scores = np.full(k, self.alpha * float(np.sqrt(x @ x / self.ridge)))
        if len(known) == k and slots[-1] - slots[0] == k - 1 and slots == list(range(slots[0], slots[0] + k)):
            # a title's actions usually sit in consecutive slots: a view, no copy
            sl = slice(slots[0], slots[0] + k)
            ax = self._a_inv[sl] @ x
            scores = self._theta[sl] @ x + self.alpha * np.sqrt(np.maximum(ax @ x, 0.0))
        elif known:
            idx = [slots[i] for i in known]
            ax = self._a_inv[idx] @ x  # (m, d)
            scores[known] = self._theta[idx] @ x + self.alpha * np.sqrt(np.maximum(ax @ x, 0.0))
        best = np.flatnonzero(scores >= scores.max() - 1e-12)
        pmf = np.full(k, self.epsilon / k)
        pmf[best] += (1.0 - self.epsilon) / len(best)
        return pmf

    def _update(
        self, prepared: np.ndarray, entries: list[ActionEntry], index: int, reward01: float, probability: float
    ) -> None:
        s = self._slots([entries[index]], create=True)[0]
        x = prepared
        a_inv = self._a_inv[s]
        ax = a_inv @ x
        a_inv -= np.outer(ax, ax) / (1.0 + x @ ax)  # Sherman-Morrison
        self._b[s] += reward01 * x
        self._theta[s] = a_inv @ self._b[s]
