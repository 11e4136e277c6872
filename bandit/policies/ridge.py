"""Exact online least squares over context x action features: a regression for `vw:select`'s mixture.

Why: on coba's synthetic benchmark (bench/peer_coba.py: every round brings new actions described only
by their features, rewards without noise, 4,000 rounds) the default's VW regressions, trained by SGD,
collected 1.9 points less reward than coba's LinUCB over 16 seeds, and no VW learning rate,
exploration or optimizer closed it; an exact ridge regression on the same bilinear features under
squarecb's exploration did (issue 31). SquareCB acts on any online regression, and `vw:select`
weights its regressions by their squared error on rewards before learning them, so a ridge
regression joins the mixture as one more member, weighted by its squared error like the others.
By default only while the actions offered are new at every round (`ridge="auto"`, gated by
bandit.policies.fresh: coba's benchmark 1.90 -> 0.47 points behind coba's LinUCB): always in
(`vw:select --ridge`) it measured harmful on catalogues of fixed variants (the simulator's `drift`
0.59 of the oracle against 0.78: it never forgets, and its few context slots cannot tell every
segment apart yet predict the average well enough to take weight); see docs/defaults.md, "The
peer's own benchmark".

The features: phi(c, a) = [1, c] (x) [1, a], the outer product of the context's and the action's
features (strings as indicators `name=value`, the action's id as `id=<id>`, as in VW's lines), i.e.
a bias, the context's and the action's own terms and every context x action product. (Without the
id, measured on the wide suite: 1.4 points below the default, since a member that cannot tell
actions without features apart flattens the mixture's cost gaps and squarecb explores more.) Each
feature gets a slot the first time
it is learned from, at most `context_slots` and `action_slots` (later ones are left to the VW
models), and the regression grows with the slots: a coordinate nobody has seen has no data, so
adding it (A padded with lambda I, b with 0) keeps the fit exact. Memory is bounded by the caps:
at most (1 + C)(1 + A) coordinates, two square matrices of them.

How it learns: A = lambda I + sum w phi phi^T, b = sum w y phi, theta = A^-1 b, with A^-1 kept by the
Sherman-Morrison formula (O(d^2) a reward) and recomputed from A every REFRESH updates so rounding
never accumulates. An update that would make anything non-finite (hostile numbers) is refused and
the model stays as it was; feature values are clipped to +-VALUE_CLIP for this model.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from bandit.vwformat import dsjson_features

REFRESH = 1024  # updates between exact recomputations of A^-1 (a d^3 solve; ~1 ms at d = 144)
VALUE_CLIP = 1e6  # a feature's value as this model sees it (the VW models see the value itself)
RIDGE = 1.0  # lambda
MAX_SLOTS = 16  # per side: at most 17 x 17 = 289 coordinates, two 289 x 289 matrices (1.3 MB)


class RidgeRegression:
    """Online ridge regression on [1, c] x [1, a]; predicts costs in [0, 1] for the mixture."""

    def __init__(self, context_slots: int = 11, action_slots: int = 11) -> None:
        self.context_slots, self.action_slots = int(context_slots), int(action_slots)
        if not (1 <= self.context_slots <= MAX_SLOTS and 1 <= self.action_slots <= MAX_SLOTS):
            raise ValueError(f"ridge slots must be between 1 and {MAX_SLOTS}")
        self._ctx: dict[str, int] = {}  # feature name -> slot (1-based: 0 is the bias)
        self._act: dict[str, int] = {}
        # the coordinates in use, in the order they were added: (context slot, action slot)
        self._rows = np.zeros(1, dtype=np.int64)
        self._cols = np.zeros(1, dtype=np.int64)
        self._index = np.full((1 + self.context_slots, 1 + self.action_slots), -1, dtype=np.int64)
        self._index[0, 0] = 0
        self._table = np.zeros((1 + self.context_slots, 1 + self.action_slots))  # theta by (c, a) slot
        self.A = np.eye(1) * RIDGE
        self.A_inv = np.eye(1) / RIDGE
        self.b = np.zeros(1)
        self.theta = np.zeros(1)
        self.updates = 0

    @property
    def dims(self) -> int:
        return self.b.shape[0]

    # -- features ---------------------------------------------------------------------------------
    @staticmethod
    def context_features(context: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
        """The context as this model's flat features (name -> value; strings as indicators)."""
        flat: dict[str, float] = {}
        for ns, feats in context.items():
            for name, value in dsjson_features(feats, f"context[{ns!r}]").items():
                flat[f"{ns}\x1f{name}"] = value
        return flat

    @staticmethod
    def action_features(action_id: str, features: Mapping[str, Any]) -> dict[str, float]:
        """An action as this model's flat features: its id as the indicator `id=<id>`, then its own."""
        return {f"id={action_id}": 1.0, **dsjson_features(features, f"action {action_id!r}")}

    @staticmethod
    def _slots(
        features: Mapping[str, float], table: dict[str, int], cap: int, assign: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Slots and values, bias first. Only learning assigns slots to new features: a feature
        without a slot has no weight yet, so predicting without it is exactly predicting with it."""
        idx, val = [0], [1.0]
        for name, value in features.items():
            slot = table.get(name)
            if slot is None:
                if not assign or len(table) >= cap:
                    continue
                slot = table[name] = len(table) + 1
            idx.append(slot)
            val.append(VALUE_CLIP if value > VALUE_CLIP else -VALUE_CLIP if value < -VALUE_CLIP else value)
        return np.array(idx, dtype=np.int64), np.array(val)

    def _grow(self) -> None:
        """Add the coordinates of newly slotted features (every pair with the other side's slots)."""
        rows, cols = np.nonzero(self._index[: 1 + len(self._ctx), : 1 + len(self._act)] < 0)
        k = len(rows)
        if not k:
            return
        d = self.dims
        self._index[rows, cols] = np.arange(d, d + k)
        self._rows, self._cols = np.r_[self._rows, rows], np.r_[self._cols, cols]
        A = np.eye(d + k) * RIDGE
        A[:d, :d] = self.A
        A_inv = np.eye(d + k) / RIDGE
        A_inv[:d, :d] = self.A_inv
        self.A, self.A_inv = A, A_inv
        self.b, self.theta = np.r_[self.b, np.zeros(k)], np.r_[self.theta, np.zeros(k)]

    # -- predict and learn ------------------------------------------------------------------------
    def action_matrix(self, actions: Sequence[Mapping[str, float]]) -> tuple[np.ndarray, np.ndarray, int]:
        """The actions' slots and values as two k x m arrays (padded with slot 0, value 0, which adds
        nothing), and the number of action slots they were made with: valid while it is unchanged
        (an action's features only gain slots when new ones are added), so callers keep them."""
        # in plain lists, one array at the end: with 20 new actions a request, two small arrays per
        # action (as `_slots` makes for one) were most of this member's cost per decision
        table, clip = self._act, VALUE_CLIP
        rows_i, rows_v = [], []
        for features in actions:
            idx, val = [0], [1.0]
            for name, value in features.items():
                slot = table.get(name)
                if slot is not None:  # no slot: no weight yet (predicting assigns none)
                    idx.append(slot)
                    val.append(clip if value > clip else -clip if value < -clip else value)
            rows_i.append(idx)
            rows_v.append(val)
        m = max(map(len, rows_i)) if rows_i else 1
        ai = np.array([i + [0] * (m - len(i)) for i in rows_i], dtype=np.int64).reshape(len(rows_i), m)
        av = np.array([v + [0.0] * (m - len(v)) for v in rows_v], dtype=float).reshape(len(rows_v), m)
        return ai, av, len(self._act)

    @property
    def action_slots_used(self) -> int:
        return len(self._act)

    def costs(
        self, context: Mapping[str, float], actions: tuple[np.ndarray, np.ndarray, int] | Sequence[Mapping[str, float]]
    ) -> list[float]:
        """Each action's predicted cost (1 - reward), clipped to [0, 1]. No state changes. `actions`:
        their features, or `action_matrix` of them made since the last new action slot."""
        ai, av, _ = actions if isinstance(actions, tuple) else self.action_matrix(actions)
        ci, cv = self._slots(context, self._ctx, self.context_slots, False)
        row = cv @ self._table[ci]  # theta by (c, a) slot, the context contracted once
        return np.clip(1.0 - (row[ai] * av).sum(axis=1), 0.0, 1.0).tolist()

    def learn(
        self, context: Mapping[str, float], action: Mapping[str, float], cost: float, weight: float = 1.0
    ) -> float:
        """Learn one (features, cost) pair with importance `weight`; returns the cost it predicted
        before (clipped to [0, 1]), for the mixture's squared error."""
        slotted = len(self._ctx), len(self._act)
        ci, cv = self._slots(context, self._ctx, self.context_slots, True)
        ai, av = self._slots(action, self._act, self.action_slots, True)
        if (len(self._ctx), len(self._act)) != slotted:
            self._grow()
        idx = self._index[ci[:, None], ai[None, :]].ravel()  # distinct: slots are distinct
        val = (cv[:, None] * av[None, :]).ravel()
        theta = self.theta
        fitted = float(theta[idx] @ val)
        before = 1.0 - fitted
        predicted = 0.0 if not before > 0.0 else 1.0 if before > 1.0 else before
        y = 1.0 - cost
        u = self.A_inv[:, idx] @ val  # A^-1 phi, phi sparse
        denominator = 1.0 / weight + float(u[idx] @ val)
        if not (math.isfinite(denominator) and denominator > 0.0 and np.isfinite(u).all()):
            return predicted  # refused: the model stays as it was
        gain = u / denominator
        A_inv: np.ndarray = self.A_inv - np.outer(gain, u)
        new_theta = theta + gain * (y - fitted)
        block = np.ix_(idx, idx)
        with np.errstate(over="ignore", invalid="ignore"):  # refused below if anything overflowed
            a_block = self.A[block] + weight * np.outer(val, val)
        if not (np.isfinite(new_theta).all() and np.isfinite(a_block).all()):
            return predicted
        self.A[block] = a_block
        self.b[idx] += (weight * y) * val
        self.updates += 1
        if self.updates % REFRESH == 0:  # exact again: rounding never accumulates
            try:
                A_inv = np.linalg.inv(self.A)
                new_theta = A_inv @ self.b
            except np.linalg.LinAlgError:
                pass
        self.A_inv, self.theta = A_inv, new_theta
        self._table[self._rows, self._cols] = new_theta
        return predicted

    # -- state ------------------------------------------------------------------------------------
    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """(JSON-able slots and counts, arrays) for saving."""
        meta = {
            "context_slots": self.context_slots,
            "action_slots": self.action_slots,
            "context_features": sorted(self._ctx, key=self._ctx.__getitem__),
            "action_features": sorted(self._act, key=self._act.__getitem__),
            "updates": self.updates,
        }
        return meta, {"A": self.A, "A_inv": self.A_inv, "b": self.b, "rows": self._rows, "cols": self._cols}

    @classmethod
    def from_state(cls, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> "RidgeRegression":
        model = cls(int(meta["context_slots"]), int(meta["action_slots"]))
        model._ctx = {str(name): i + 1 for i, name in enumerate(meta["context_features"])}
        model._act = {str(name): i + 1 for i, name in enumerate(meta["action_features"])}
        if len(model._ctx) > model.context_slots or len(model._act) > model.action_slots:
            raise ValueError("more ridge features than slots")
        rows, cols = (np.asarray(arrays[k], dtype=np.int64) for k in ("rows", "cols"))
        d = len(rows)
        A, A_inv, b = (np.asarray(arrays[k], dtype=float) for k in ("A", "A_inv", "b"))
        if cols.shape != (d,) or A.shape != (d, d) or A_inv.shape != (d, d) or b.shape != (d,):
            raise ValueError("ridge arrays of mismatched shapes")
        if (
            d != (1 + len(model._ctx)) * (1 + len(model._act))
            or rows.max() > len(model._ctx)
            or cols.max() > len(model._act)
        ):
            raise ValueError("ridge coordinates that do not match its features")
        model._index[:] = -1
        model._index[rows, cols] = np.arange(d)
        if (model._index[: 1 + len(model._ctx), : 1 + len(model._act)] < 0).any():
            raise ValueError("ridge coordinates that do not match its features")
        model._rows, model._cols = rows, cols
        model.A, model.A_inv, model.b = A, A_inv, b
        model.theta = A_inv @ b
        model._table[rows, cols] = model.theta
        model.updates = int(meta["updates"])
        return model
