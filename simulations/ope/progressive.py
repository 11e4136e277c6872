"""Target policies replayed through a log in time order (progressive replay).

For every logged event, in order: pmf = policy.predict(context, candidates) is what the policy WOULD
have done (it feeds the estimators), then policy.learn(...) shows it what the log actually recorded,
so a learning policy is evaluated on data it has not trained on yet, like online. With
learn_on="matched" it only learns from events where its sampled action equals the logged one, with its
own probability of that action (what it would have logged online): Li et al.'s (2011) replay of a
learning policy on a uniformly random log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

from simulations.ope.errors import OPEError
from simulations.ope.positions import slot_probabilities
from simulations.ope.readers import ReplayEvent

BASELINES: tuple[str, ...] = ("uniform", "best-fixed", "ts-per-title", "linucb")


class TargetPolicy(Protocol):
    """What replay needs from a policy (bandit.Policy has both)."""

    def predict(self, context: dict, actions: list[dict]) -> np.ndarray: ...

    def learn(
        self, context: dict, actions: list[dict], chosen_index: int, reward: float, probability: float
    ) -> None: ...


class FrozenPolicy:
    """A saved model evaluated as it is: predicts, never learns."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy

    def predict(self, context: dict, actions: list[dict]) -> np.ndarray:
        return self.policy.predict(context, actions)

    def learn(self, *args: Any, **kwargs: Any) -> None:
        return None

    def close(self) -> None:
        close = getattr(self.policy, "close", None)
        if close:
            close()


class BestFixedPolicy:
    """The best fixed action in hindsight: per event, the candidate with the highest logged mean reward.

    A reference point (what one fixed artwork per title would have earned), not a deployable policy:
    its action values are IPS means over the whole log, computed before the replay pass.
    """

    def __init__(self, values: dict[str, float]) -> None:
        self.values = values

    def predict(self, context: dict, actions: list[dict]) -> np.ndarray:
        vals = np.array([self.values.get(a["id"], -np.inf) for a in actions])
        pmf = np.zeros(len(actions))
        pmf[int(np.argmax(vals))] = 1.0
        return pmf

    def at_position(self, actions: list[dict], position: int) -> list[float]:
        """Slate logs: the candidates ranked by hindsight value, the k-th best at position k."""
        vals = np.array([self.values.get(a["id"], -np.inf) for a in actions])
        pmf = [0.0] * len(actions)
        pmf[int(np.argsort(-vals, kind="stable")[position - 1])] = 1.0
        return pmf

    def learn(self, *args: Any, **kwargs: Any) -> None:
        return None


class LoggedPolicy:
    """The logging policy itself, as a target: its probability of the logged action is the logged one.

    A reference point (what the log earned, with the same intervals as the others); it needs no
    context. Its replay match is drawn with the logged probability, and DM uses q of the logged action.
    """

    name = "logged"

    def predict(self, context: dict, actions: list[dict]) -> np.ndarray:
        raise OPEError("the logged policy is scored from the log's propensities, not predicted")

    def learn(self, *args: Any, **kwargs: Any) -> None:
        return None


class ActionValueTally:
    """IPS estimate of 'always show action a' for every action id, accumulated in one pass."""

    def __init__(self) -> None:
        self.num: dict[str, float] = {}
        self.den: dict[str, int] = {}

    def add(self, ev: ReplayEvent) -> None:
        for a in ev.action_ids:
            self.den[a] = self.den.get(a, 0) + 1
        a = ev.action_ids[ev.chosen_index]
        self.num[a] = self.num.get(a, 0.0) + ev.reward / ev.probability

    def values(self) -> dict[str, float]:
        return {a: self.num.get(a, 0.0) / d for a, d in self.den.items()}


@dataclass
class PolicySlot:
    """One target policy in a replay run: its display name, the object, and its per-event outputs."""

    name: str
    policy: Any
    needs_tally: bool = False
    owned: bool = True  # created here from a spec string, so closed here; caller's objects are not
    target_p: list[np.ndarray] = field(default_factory=list)
    matched: list[np.ndarray] = field(default_factory=list)
    dm: list[np.ndarray] = field(default_factory=list)
    zero_support: list[np.ndarray] = field(default_factory=list)


def resolve_policy(spec: Any, *, seed: int = 0) -> PolicySlot:
    """A PolicySlot for a spec string (make_policy spec, 'best-fixed', 'logged', 'model:DIR' or a model folder)
    or a ready policy object (anything with predict and learn)."""
    if not isinstance(spec, str):
        if not (hasattr(spec, "predict") and hasattr(spec, "learn")):
            raise OPEError(f"policy {spec!r} has no predict/learn methods")
        return PolicySlot(getattr(spec, "name", type(spec).__name__), spec, owned=False)
    if spec == "best-fixed":
        return PolicySlot(spec, None, needs_tally=True)
    if spec == "logged":
        return PolicySlot(spec, LoggedPolicy())
    model_dir = spec[len("model:") :] if spec.startswith("model:") else spec
    if spec.startswith("model:") or Path(model_dir).is_dir():
        from bandit import load_saved_policy

        if not Path(model_dir).is_dir():
            raise OPEError(f"{model_dir}: no such saved model folder")
        return PolicySlot(f"model:{Path(model_dir).name}", FrozenPolicy(load_saved_policy(model_dir)))
    from bandit import make_policy
    from bandit.errors import BanditError

    try:
        policy = make_policy(spec, seed=seed)
    except BanditError as exc:
        raise OPEError(f"{exc}; replay also accepts logged, best-fixed and model:DIR") from None
    return PolicySlot(spec, policy)


def score_chunk(
    slots: Sequence[PolicySlot],
    chunk: list[ReplayEvent],
    uniforms: np.ndarray,
    q_hat: list[np.ndarray] | None,
    learn_on: str = "all",
) -> None:
    """Run every policy over one chunk in order, appending its per-event outputs to its slot.

    uniforms: one U(0,1) per event shared by all policies (common random numbers for replay's sampled
    actions, so two policies that agree get the same matched events).
    """
    from bandit.sampling import sample_index

    n = len(chunk)
    # candidate lists in bandit form, built once per candidate set: readers share one ids list and one
    # features list per set (SQLite), and the events of the chunk keep both alive, so ids are stable keys
    actions_of: dict[tuple[int, int], list[dict]] = {}
    for slot in slots:
        if _is_uniform(slot.policy):
            _score_uniform(slot, chunk, uniforms, q_hat)
            continue
        if isinstance(slot.policy, LoggedPolicy):
            _score_logged(slot, chunk, uniforms, q_hat)
            continue
        tp = np.empty(n)
        mt = np.zeros(n, dtype=bool)
        dm = np.empty(n) if q_hat is not None else None
        zs = np.zeros(n)
        predict, learn = slot.policy.predict, slot.policy.learn
        # bandit policies parse each event once for both the pmf and the update (ReplayStep)
        stepper = getattr(slot.policy, "replay_step", None)
        learns = not isinstance(slot.policy, (FrozenPolicy, BestFixedPolicy))
        step = None
        for i, ev in enumerate(chunk):
            key = (id(ev.action_ids), id(ev.action_features))
            actions = actions_of.get(key)
            if actions is None:
                actions = actions_of[key] = ev.actions
            if stepper is not None:
                step = stepper(ev.context, actions)
                pl = step.pmf
            else:
                pmf = predict(ev.context, actions)
                pl = pmf.tolist() if hasattr(pmf, "tolist") else list(pmf)
            k = len(pl)
            if k != len(actions):
                raise OPEError(f"policy {slot.name}: predict returned {k} probabilities for {len(actions)} actions")
            if ev.position is not None:  # a slate's row: the policy's probability of this item in this slot
                pl = (
                    slot.policy.at_position(actions, ev.position)
                    if isinstance(slot.policy, BestFixedPolicy)
                    else slot_probabilities(pl, ev.position).tolist()
                )
            c = ev.chosen_index
            tp[i] = pl[c]
            # the target's sampled action: the bandit's own inverse-CDF draw on the shared uniform
            match = sample_index(pl, uniforms[i]) == c
            mt[i] = match
            if dm is not None:
                dm[i] = sum(pj * qj for pj, qj in zip(pl, q_hat[i]))  # type: ignore[index]
            zeros = ev.zero_logged()
            if zeros is not None:
                zs[i] = sum(pl[j] for j in zeros)
            elif ev.probability >= 1.0:
                zs[i] = 1.0 - pl[c]
            if learns and (learn_on == "all" or match):
                # "matched": as if online, the policy chose this action itself, with its own probability
                p_learn = ev.probability if learn_on == "all" else pl[c]
                if step is not None:
                    step.learn(c, ev.reward, p_learn)
                else:
                    learn(ev.context, actions, c, ev.reward, p_learn)
        slot.target_p.append(tp)
        slot.matched.append(mt)
        if dm is not None:
            slot.dm.append(dm)
        slot.zero_support.append(zs)


def _is_uniform(policy: Any) -> bool:
    from bandit import UniformPolicy

    return type(policy) is UniformPolicy


def _score_uniform(
    slot: PolicySlot, chunk: list[ReplayEvent], uniforms: np.ndarray, q_hat: list[np.ndarray] | None
) -> None:
    """The uniform policy vectorised: pi = 1/K needs no context, and it never learns anything."""
    k = np.fromiter((len(e.action_ids) for e in chunk), np.float64, len(chunk))
    chosen = np.fromiter((e.chosen_index for e in chunk), np.int64, len(chunk))
    slot.target_p.append(1.0 / k)
    slot.matched.append(np.minimum((uniforms * k).astype(np.int64), k.astype(np.int64) - 1) == chosen)
    if q_hat is not None:
        slot.dm.append(np.fromiter((q.mean() for q in q_hat), np.float64, len(chunk)))
    zs = np.zeros(len(chunk))
    for i, e in enumerate(chunk):
        zeros = e.zero_logged()
        if zeros is not None:
            zs[i] = len(zeros) / k[i]
        elif e.probability >= 1.0:
            zs[i] = 1.0 - 1.0 / k[i]
    slot.zero_support.append(zs)


def _score_logged(
    slot: PolicySlot, chunk: list[ReplayEvent], uniforms: np.ndarray, q_hat: list[np.ndarray] | None
) -> None:
    """The logging policy as a target (see LoggedPolicy); the same numbers as simulations.ope.columnar."""
    p = np.fromiter((e.probability for e in chunk), np.float64, len(chunk))
    slot.target_p.append(p)
    slot.matched.append(uniforms < p)
    if q_hat is not None:
        slot.dm.append(np.array([q[e.chosen_index] for q, e in zip(q_hat, chunk)]))
    slot.zero_support.append(np.zeros(len(chunk)))
