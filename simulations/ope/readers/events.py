"""What every log reader produces: one ReplayEvent per logged decision, and EventBatch, the same
decisions as numpy columns (what the estimators and the context-free policies need).

Why both: a policy that learns or scores per event needs contexts and candidate features (events);
uniform, logged and best-fixed targets and the IPS/SNIPS/replay estimators need only the columns, and
building a Python object per row for them was most of the time on a wide log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from bandit.log import jsontext


class ReplayEvent:
    """One logged decision: what was shown (chosen_index into action_ids), with what probability, and the reward.

    `context` and `action_features` may be built lazily (from a thunk) on first access, and the logged
    pmf may arrive as JSON text (`pmf_text`) decoded on first access: estimating a context-free target
    (uniform, a fixed action) then never pays for parsing features or pmfs.
    """

    __slots__ = (
        "_context",
        "_make_context",
        "action_ids",
        "_features",
        "_make_features",
        "chosen_index",
        "probability",
        "reward",
        "time",
        "_pmf",
        "_pmf_text",
        "position",
    )

    def __init__(
        self,
        context: dict | None,
        action_ids: list[str],
        action_features: list[dict] | None,
        chosen_index: int,
        probability: float,
        reward: float,
        time: float | None = None,
        pmf: list[float] | None = None,
        *,
        make_context: Callable[[], dict] | None = None,
        make_features: Callable[[], list[dict]] | None = None,
        pmf_text: str | None = None,
        position: int | None = None,
    ) -> None:
        self._context = context
        self._make_context = make_context
        self.action_ids = action_ids
        self._features = action_features
        self._make_features = make_features
        self.chosen_index = chosen_index
        self.probability = probability
        self.reward = reward
        self.time = time
        self._pmf = pmf
        self._pmf_text = pmf_text
        self.position = position  # the slot (1, 2, ...) of a slate log's row; None: one decision per event

    @property
    def pmf(self) -> list[float] | None:
        """The logging policy's full pmf over the candidates, or None when the log has none."""
        if self._pmf is None and self._pmf_text is not None:
            try:
                pmf = jsontext.loads(self._pmf_text)
            except ValueError:  # a damaged pmf only loses the zero-support diagnostic, not the event
                pmf = None
            self._pmf = pmf if isinstance(pmf, list) and pmf else None
            self._pmf_text = None
        return self._pmf

    def zero_logged(self) -> list[int] | None:
        """Indices of candidates the logger gave probability <= 0 (None: no pmf logged).

        Why: the zero-support diagnostic asks this of every event, and almost no logged pmf has a
        zero; JSON text without "0.0" as an entry and without a minus sign cannot have one, so
        the text is only decoded when it might."""
        text = self._pmf_text
        if (
            text is not None
            and "-" not in text
            and "[0.0," not in text
            and ",0.0," not in text
            and ",0.0]" not in text
            and text != "[0.0]"
        ):
            return [] if len(text) > 2 else None
        pmf = self.pmf
        return None if pmf is None else [i for i, p in enumerate(pmf) if p <= 0]

    @property
    def context(self) -> dict:
        c = self._context
        if c is None:
            c = self._context = self._make_context() if self._make_context else {}
        return c

    @property
    def action_features(self) -> list[dict]:
        f = self._features
        if f is None:
            f = self._features = self._make_features() if self._make_features else [{} for _ in self.action_ids]
        return f

    @property
    def actions(self) -> list[dict]:
        """The candidate list in bandit form: [{"id", "features"}]."""
        return [{"id": a, "features": f} for a, f in zip(self.action_ids, self.action_features)]

    def __repr__(self) -> str:
        return (
            f"ReplayEvent(actions={self.action_ids!r}, chosen={self.chosen_index}, "
            f"p={self.probability}, reward={self.reward})"
        )


@dataclass
class EventBatch:
    """Consecutive logged decisions as columns (length n each), plus the events when they were asked for.

    chosen: index of the logged action in its candidate set; sets: the distinct candidate-id lists of
    the batch, set_index: which one each event had; zero_count: how many candidates the logged pmf
    gave probability <= 0 (NaN where the log has no pmf).
    """

    reward: np.ndarray
    probability: np.ndarray
    chosen: np.ndarray
    sets: list[list[str]]
    set_index: np.ndarray
    zero_count: np.ndarray
    events: list[ReplayEvent] | None = None
    zero_index: dict[int, list[int]] | None = None  # event -> candidates logged with p <= 0 (only those with any)
    position: np.ndarray | None = None  # slate logs (--position-col): each row's slot, 1-based

    def __len__(self) -> int:
        return len(self.reward)

    @property
    def n_candidates(self) -> np.ndarray:
        return (
            np.array([len(s) for s in self.sets], dtype=np.int64)[self.set_index]
            if self.sets
            else np.zeros(0, dtype=np.int64)
        )

    @classmethod
    def from_events(cls, events: list[ReplayEvent], keep_events: bool = True) -> "EventBatch":
        """Columns of row-built events (SQLite, DSJSON); candidate lists the reader shares stay shared."""
        n = len(events)
        sets: list[list[str]] = []
        seen: dict[int, int] = {}
        by_key: dict[tuple, int] = {}
        set_index = np.empty(n, dtype=np.int64)
        zero = np.full(n, np.nan)
        zero_index: dict[int, list[int]] = {}
        for i, ev in enumerate(events):
            j = seen.get(id(ev.action_ids))  # the events keep their lists alive: ids are stable here
            if j is None:
                key = tuple(ev.action_ids)
                j = by_key.get(key)
                if j is None:
                    j = by_key[key] = len(sets)
                    sets.append(ev.action_ids)
                seen[id(ev.action_ids)] = j
            set_index[i] = j
            z = ev.zero_logged()
            if z is not None:
                zero[i] = len(z)
                if z:
                    zero_index[i] = z
        return cls(
            reward=np.fromiter((e.reward for e in events), np.float64, n),
            probability=np.fromiter((e.probability for e in events), np.float64, n),
            chosen=np.fromiter((e.chosen_index for e in events), np.int64, n),
            sets=sets,
            set_index=set_index,
            zero_count=zero,
            events=events if keep_events else None,
            zero_index=zero_index,
        )
