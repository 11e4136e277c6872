"""Target policies that need no per-event model, scored over whole columns: uniform, logged, best-fixed.

Why: these policies look at no context, so replaying them event by event only paid for Python objects.
Here a pass over the log collects its columns (reward, propensity, chosen index, candidate set) and
each policy's target probabilities, replay matches and zero-support shares are numpy expressions.
The results equal the per-event path of progressive.py (tests/test_replay_columnar.py checks it).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simulations.ope.readers.events import EventBatch

COLUMNAR: tuple[str, ...] = ("uniform", "logged", "best-fixed")


@dataclass
class LogColumns:
    """The whole log as columns; sets are the distinct candidate lists, set_index which one each event had."""

    reward: np.ndarray
    probability: np.ndarray
    chosen: np.ndarray
    set_index: np.ndarray
    sets: list[list[str]]
    zero_count: np.ndarray
    zero_index: dict[int, list[int]]
    uniforms: np.ndarray

    @property
    def n_candidates(self) -> np.ndarray:
        return np.array([len(s) for s in self.sets], dtype=np.int64)[self.set_index]


@dataclass
class ColumnCollector:
    """Appends EventBatches (and their shared uniforms) into LogColumns, deduplicating candidate sets."""

    parts: dict[str, list[np.ndarray]] = field(default_factory=lambda: {k: [] for k in (
        "reward", "probability", "chosen", "set_index", "zero_count", "uniforms")})
    sets: list[list[str]] = field(default_factory=list)
    zero_index: dict[int, list[int]] = field(default_factory=dict)
    _keys: dict[tuple, int] = field(default_factory=dict)
    n: int = 0

    def add(self, batch: EventBatch, uniforms: np.ndarray) -> None:
        remap = np.empty(len(batch.sets), dtype=np.int64)
        for j, ids in enumerate(batch.sets):
            key = tuple(ids)
            g = self._keys.get(key)
            if g is None:
                g = self._keys[key] = len(self.sets)
                self.sets.append(list(ids))
            remap[j] = g
        for name, arr in (("reward", batch.reward), ("probability", batch.probability), ("chosen", batch.chosen),
                          ("set_index", remap[batch.set_index] if len(batch) else batch.set_index),
                          ("zero_count", batch.zero_count), ("uniforms", uniforms)):
            self.parts[name].append(np.asarray(arr))
        for i, z in (batch.zero_index or {}).items():
            self.zero_index[self.n + i] = z
        self.n += len(batch)

    def columns(self) -> LogColumns:
        """The collected columns, once: the batches are released as each column is joined."""
        cat = {}
        for k in list(self.parts):
            parts = self.parts.pop(k)
            cat[k] = np.concatenate(parts) if parts else np.zeros(0)
            parts.clear()
        return LogColumns(cat["reward"].astype(np.float64), cat["probability"].astype(np.float64),
                          cat["chosen"].astype(np.int64), cat["set_index"].astype(np.int64), self.sets,
                          cat["zero_count"].astype(np.float64), self.zero_index, cat["uniforms"])


def action_values(cols: LogColumns) -> tuple[list[str], np.ndarray]:
    """(action ids, IPS value of always showing each): sum of r/p where it was logged over the events
    where it was a candidate (what ActionValueTally computes event by event)."""
    ids: dict[str, int] = {}
    set_aids = [np.array([ids.setdefault(a, len(ids)) for a in s], dtype=np.int64) for s in cols.sets]
    offsets = np.cumsum([0] + [len(s) for s in cols.sets])
    flat = np.concatenate(set_aids) if set_aids else np.zeros(0, dtype=np.int64)
    chosen_aid = flat[offsets[cols.set_index] + cols.chosen]
    num = np.bincount(chosen_aid, weights=cols.reward / cols.probability, minlength=len(ids))
    per_set = np.bincount(cols.set_index, minlength=len(cols.sets))
    den = np.zeros(len(ids))
    for s, aids in enumerate(set_aids):
        np.add.at(den, aids, per_set[s])
    with np.errstate(invalid="ignore", divide="ignore"):
        return list(ids), np.where(den > 0, num / np.where(den > 0, den, 1), -np.inf)


def score(name: str, cols: LogColumns) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(target probability of the logged action, replay match, zero-support share) per event."""
    p, chosen, u = cols.probability, cols.chosen, cols.uniforms
    k = cols.n_candidates.astype(np.float64)
    if name == "uniform":
        target = 1.0 / k
        matched = np.minimum((u * k).astype(np.int64), k.astype(np.int64) - 1) == chosen
        zero = np.where(np.isnan(cols.zero_count), np.where(p >= 1.0, 1.0 - target, 0.0), cols.zero_count / k)
        return target, matched, zero
    if name == "logged":  # the logging policy itself: w = 1; it "would have chosen" the logged action w.p. p
        return p.copy(), u < p, np.zeros(len(p))
    if name == "best-fixed":
        ids, values = action_values(cols)
        index = {a: i for i, a in enumerate(ids)}
        best = np.array([int(np.argmax([values[index[a]] for a in s])) if s else -1 for s in cols.sets],
                        dtype=np.int64)
        best_of = best[cols.set_index]
        matched = chosen == best_of
        target = matched.astype(np.float64)
        zero = np.where(p >= 1.0, 1.0 - target, 0.0)
        known = ~np.isnan(cols.zero_count)
        zero[known] = 0.0
        for i, zeros in cols.zero_index.items():
            zero[i] = 1.0 if best_of[i] in zeros else 0.0
        return target, matched, zero
    raise ValueError(f"{name} is not a columnar policy")
