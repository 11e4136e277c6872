"""Target policies that need no per-event model, scored over whole columns: uniform, logged, best-fixed.

Why: these policies look at no context, so replaying them event by event only paid for Python objects.
Here each batch of the log comes as columns (reward, propensity, chosen index, candidate set), each
policy's target probabilities, replay matches and zero-support shares are numpy expressions over it,
and the batch goes to the streaming estimators (simulations.ope.streaming) and is dropped: memory is
bounded by the batch size. best-fixed needs hindsight action values, so it takes a first pass
(ActionValueStream, one number pair per action).
The results equal the per-event path of progressive.py (tests/simulations/ope/test_columnar.py checks it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simulations.ope.readers.events import EventBatch

COLUMNAR: tuple[str, ...] = ("uniform", "logged", "best-fixed")


@dataclass
class LogColumns:
    """One batch of the log as columns; sets are its distinct candidate lists, set_index which one each event had."""

    reward: np.ndarray
    probability: np.ndarray
    chosen: np.ndarray
    set_index: np.ndarray
    sets: list[list[str]]
    zero_count: np.ndarray
    zero_index: dict[int, list[int]]
    uniforms: np.ndarray
    position: np.ndarray | None = None  # slate logs: each row's slot (1-based)

    @classmethod
    def of(cls, batch: EventBatch, uniforms: np.ndarray) -> "LogColumns":
        return cls(
            np.asarray(batch.reward, dtype=np.float64),
            np.asarray(batch.probability, dtype=np.float64),
            np.asarray(batch.chosen, dtype=np.int64),
            np.asarray(batch.set_index, dtype=np.int64),
            batch.sets,
            np.asarray(batch.zero_count, dtype=np.float64),
            batch.zero_index or {},
            uniforms,
            batch.position,
        )

    @property
    def n_candidates(self) -> np.ndarray:
        return (
            np.array([len(s) for s in self.sets], dtype=np.int64)[self.set_index]
            if self.sets
            else np.zeros(0, dtype=np.int64)
        )


@dataclass
class ActionValueStream:
    """Best-fixed's hindsight action values over batches: sum of r/p where an action was logged over the
    events where it was a candidate (what progressive.ActionValueTally computes event by event).

    Holds one number pair per distinct action, never per event. np.add.at adds in event order onto the
    running sums, so the floats equal the event-by-event tally's exactly (ties break alike)."""

    ids: dict[str, int] = field(default_factory=dict)
    num: np.ndarray = field(default_factory=lambda: np.zeros(0))
    den: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def add(self, batch: EventBatch) -> None:
        if not len(batch):
            return
        cols = LogColumns.of(batch, np.zeros(0))
        set_aids = [np.array([self.ids.setdefault(a, len(self.ids)) for a in s], dtype=np.int64) for s in cols.sets]
        if len(self.ids) > len(self.num):
            grow = len(self.ids) - len(self.num)
            self.num = np.concatenate([self.num, np.zeros(grow)])
            self.den = np.concatenate([self.den, np.zeros(grow)])
        offsets = np.cumsum([0] + [len(s) for s in cols.sets])
        flat = np.concatenate(set_aids) if set_aids else np.zeros(0, dtype=np.int64)
        np.add.at(self.num, flat[offsets[cols.set_index] + cols.chosen], cols.reward / cols.probability)
        per_set = np.bincount(cols.set_index, minlength=len(cols.sets))
        for s, aids in enumerate(set_aids):
            np.add.at(self.den, aids, per_set[s])

    def values(self) -> dict[str, float]:
        with np.errstate(invalid="ignore", divide="ignore"):
            v = np.where(self.den > 0, self.num / np.where(self.den > 0, self.den, 1), -np.inf)
        return dict(zip(self.ids, v.tolist()))


def score(
    name: str, cols: LogColumns, values: dict[str, float] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(target probability of the logged action, replay match, zero-support share) per event of a batch.

    values: best-fixed's action values over the whole log (ActionValueStream.values())."""
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
        if values is None:
            raise ValueError("best-fixed needs the log's action values")
        if cols.position is None:
            best = np.array([int(np.argmax([values[a] for a in s])) if s else -1 for s in cols.sets], dtype=np.int64)
            best_of = best[cols.set_index]
        else:  # slate logs: the candidates ranked by hindsight value, the k-th best at position k
            order = [np.argsort(-np.array([values[a] for a in s]), kind="stable") for s in cols.sets]
            best_of = np.array(
                [
                    order[s][k - 1] if 0 < k <= len(order[s]) else -1
                    for s, k in zip(cols.set_index.tolist(), cols.position.tolist())
                ],
                dtype=np.int64,
            )
        matched = chosen == best_of
        target = matched.astype(np.float64)
        zero = np.where(p >= 1.0, 1.0 - target, 0.0)
        known = ~np.isnan(cols.zero_count)
        zero[known] = 0.0
        for i, zeros in cols.zero_index.items():
            zero[i] = 1.0 if best_of[i] in zeros else 0.0
        return target, matched, zero
    raise ValueError(f"{name} is not a columnar policy")
