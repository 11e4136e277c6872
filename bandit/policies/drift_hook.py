"""The drift hook a learning policy carries (the Personalizer and vw:select): a Page-Hinkley test on
the rewards it learns; on a detected drop every action gets at least `drift_floor` probability for
the next `drift_boost` learned events, so the model sees the actions it had stopped showing
(docs/evaluate.md#drift, docs/defaults.md). Each drop is written to the policy's event log (the
decision service writes its own, through `drift_row`). Saved with the model, so a reloaded policy
continues exactly.

Why the test waits one reward window before it starts: rewards are learned when they arrive, clicks
within seconds and non-clicks only when their window closes with the default reward. Until one
window has passed since the first learned event, the learned rewards are mostly clicks; a detector
warmed up on them raised a false "drop" as soon as the defaults began to arrive (the `delayed`
scenario, ~1,000 rewards in). `drift_clock(deadline, when)`, called when an own event is learned
(bandit.policies.base.Policy.learn_event), holds the test back until then. Learning from a log (`learn`) has no clock and is watched from the start.
"""

from __future__ import annotations

from typing import Callable

from bandit.log.schema import DriftEvent
from bandit.policies.drift import PageHinkley


class DriftHook:
    """Mixin for a Policy subclass: call `_init_drift` after Policy.__init__ and `_watch(reward01)`
    after every update."""

    # what it reads and changes of the Policy it is mixed into
    min_probability: float
    exploration_budget: float | None
    n_learned: int
    drift_events: list[int]
    watches_drift: bool
    settle_exploration: Callable[[], None]  # Policy's (a stub here would shadow it: DriftHook comes first)

    def _init_drift(self, drift_boost: int, drift_floor: float) -> None:
        self.drift_boost, self.drift_floor = int(drift_boost), float(drift_floor)
        self._drift = PageHinkley() if self.drift_boost > 0 else None
        self.watches_drift = self._drift is not None  # only then does the floor settle (Policy.settle_exploration)
        self._boost_left = 0
        self._base_floor = self.min_probability
        # a boost raises every candidate's floor, however many: the exploration budget is set
        # aside while it lasts
        self._base_budget = self.exploration_budget
        self.drift_events = []  # n_learned at each detected drop
        self._watch_from: float | None = None  # the first learned event's window end (drift_clock)
        self._watching = True

    def drift_clock(self, deadline: float, when: float) -> None:
        """An event whose reward window ends at `deadline` is learned at `when`: the test starts once
        `when` reaches the first such event's deadline (see the module docstring)."""
        if self._drift is None or (self._watching and self._watch_from is not None):
            return
        if self._watch_from is None:
            self._watch_from = float(deadline)
        self._watching = when >= self._watch_from

    def drift_row(self, event_id: str, when: float, writer: int | None) -> DriftEvent:
        """The event-log row for the drop detected by the last learned event (the Personalizer's own
        rewards and the decision service both write it)."""
        det = self._drift
        assert det is not None  # only called after the test detected a drop
        return DriftEvent(
            time=float(when),
            writer=writer,
            direction="drop",
            statistic=float(det.last_alarm),
            threshold=float(det.threshold),
            floor=self.min_probability,
            boost_events=self.drift_boost,
            n_learned=self.drift_events[-1],
            event_id=event_id,
        )

    def _watch(self, reward01: float) -> None:
        if self._boost_left:
            self._boost_left -= 1
            if not self._boost_left:
                self.min_probability = self._base_floor
                self.exploration_budget = self._base_budget
        if not self._watching:
            return
        if self._drift.update(reward01) == "drop":  # type: ignore[union-attr]
            self.drift_events.append(self.n_learned)
            self._boost_left = self.drift_boost
            self.min_probability = max(self._base_floor, self.drift_floor)
            self.exploration_budget = None

    def _drift_state(self) -> dict | None:
        if self._drift is None:
            return None
        return {
            "detector": dict(vars(self._drift)),
            "boost_left": self._boost_left,
            "min_probability": self.min_probability,
            "events": self.drift_events,
            "watch_from": self._watch_from,
            "watching": self._watching,
        }

    def _restore_drift_state(self, state: dict | None) -> None:
        if state is None or self._drift is None:
            return
        for key, value in state["detector"].items():
            setattr(self._drift, key, value)
        self._boost_left = int(state["boost_left"])
        self.min_probability = float(state["min_probability"])
        if self._boost_left:
            self.exploration_budget = None
        self.drift_events = list(state["events"])
        self.settle_exploration()
        watch_from = state.get("watch_from")  # a model saved before the clock: watching already
        self._watch_from = None if watch_from is None else float(watch_from)
        self._watching = bool(state.get("watching", True))
