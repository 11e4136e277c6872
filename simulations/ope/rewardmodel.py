"""The reward model q(x, a) behind DM and DR: VW regression, cross-fitted on two halves of the log.

Each event's q comes from the model trained on the OTHER half ("a separate split"), so DR's correction
term stays unbiased and DM never scores an event it was trained on. The model is a plain squared-loss
VW regression of the reward on context x action features (`-q cA`, the same VW text as the bandit's
own examples, via bandit.features), with a constant learning rate: with the default decaying rate one
pass over binary rewards stayed far from the cell means in our checks.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pylibvw  # the compiled module under vowpalwabbit.Workspace (see CrossFitRewardModel)

from simulations.ope.readers import ReplayEvent

VW_ARGS = "-q cA --power_t 0 -l 0.03 --quiet"


def context_text(context: dict) -> str:
    """The context namespaces as VW text (without the 'shared' marker of multi-line examples)."""
    from bandit.vwformat import context_line

    return context_line(context)[len("shared") :]


def action_text(action_id: str, feats: dict) -> str:
    """One action as VW text, exactly as the bandit writes it (bandit.vwformat.action_line)."""
    from bandit.vwformat import action_line

    return action_line(action_id, feats)


def fold_of(position: int, seed: int) -> int:
    """Which half an event belongs to: a seeded hash of its position in the log (deterministic)."""
    x = (position * 0x9E3779B1 + seed * 0x85EBCA77) & 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    return x & 1


class CrossFitRewardModel:
    """Two VW regressors; `learn` sends event i to the model of its fold, `predict` asks the other one.

    Examples go through pylibvw directly, as in bandit.policies.vw: `Workspace.learn/predict` on a string
    wrap every line in a Python `Example`, which cost more than VW's own work (DM/DR ran 2x slower).
    An example made with `pylibvw.example` from text is parsed and set up, and freed when dropped;
    tests/simulations/ope/test_estimators.py checks the q values against the public API.
    """

    def __init__(self, *, seed: int = 0) -> None:
        from vowpalwabbit import Workspace

        self.models = [Workspace(f"{VW_ARGS} --random_seed {seed}") for _ in range(2)]
        self._label_type = int(self.models[0].get_label_type())
        self.seed = seed
        self.trained = [0, 0]
        self._last: tuple[object, list[str]] = (None, [])
        self._lines: dict[str, tuple[dict, str]] = {}  # action id -> (its features, its VW text)

    def _action_lines(self, ev: ReplayEvent) -> list[str]:
        """VW text per candidate, formatted once per action (formatting dominated the cost)."""
        if self._last[0] is ev.action_ids:  # readers reuse the candidate list object
            return self._last[1]
        lines = []
        cache = self._lines
        for aid, feats in zip(ev.action_ids, ev.action_features):
            hit = cache.get(aid)
            if hit is None or (hit[0] is not feats and hit[0] != feats):
                if len(cache) > 100_000:
                    cache.clear()
                hit = cache[aid] = (feats, action_text(aid, feats))
            lines.append(hit[1])
        self._last = (ev.action_ids, lines)
        return lines

    def learn(self, position: int, ev: ReplayEvent) -> None:
        """Train the model of this event's fold on its logged (context, action) -> reward."""
        fold = fold_of(position, self.seed)
        line = self._action_lines(ev)[ev.chosen_index]
        model = self.models[fold]
        pylibvw.vw.learn(
            model, pylibvw.example(model, self._label_type, f"{ev.reward:.6g}{context_text(ev.context)} {line}")
        )
        self.trained[fold] += 1

    def fit(self, events: Iterable[tuple[int, ReplayEvent]]) -> None:
        for position, ev in events:
            self.learn(position, ev)

    def predict(self, position: int, ev: ReplayEvent) -> np.ndarray:
        """q(x, a) for every candidate, from the model that did not see this event."""
        other = 1 - fold_of(position, self.seed)
        if self.trained[other] == 0:
            other = 1 - other
        model = self.models[other]
        ctx = context_text(ev.context)
        q = np.empty(len(ev.action_ids))
        for i, line in enumerate(self._action_lines(ev)):
            example = pylibvw.example(model, self._label_type, f"{ctx} {line}")
            pylibvw.vw.predict(model, example)
            q[i] = example.get_simplelabel_prediction()
        return q

    def close(self) -> None:
        for m in self.models:
            m.finish()
