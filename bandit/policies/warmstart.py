"""Warm start: train a policy off-policy from an existing event log, with the logged probabilities."""

from __future__ import annotations

import os
from typing import Callable, Iterable

from bandit.log.eventlog import EventLog, LoggedEvent
from bandit.policies.base import Policy


def learn_from_events(
    policy: Policy, events: Iterable[LoggedEvent], on_event: Callable[[LoggedEvent], None] | None = None
) -> tuple[int, int]:
    """Feed every rewarded event to `policy.learn`; returns (learned, skipped without reward)."""
    learned = skipped = 0
    for event in events:
        if event.reward is None:
            skipped += 1
        else:
            actions = [{"id": a, "features": f} for a, f in zip(event.action_ids, event.action_features)]
            policy.learn(event.context, actions, event.chosen_index, event.reward, event.probability)
            learned += 1
        if on_event is not None:
            on_event(event)
    return learned, skipped


def train_from_log(
    policy: Policy,
    log: str | os.PathLike | EventLog,
    *,
    passes: int = 1,
    on_event: Callable[[LoggedEvent], None] | None = None,
) -> tuple[int, int]:
    """`learn_from_events` over a whole SQLite log, `passes` times, streaming."""
    own = not isinstance(log, EventLog)
    source = log if isinstance(log, EventLog) else EventLog(log, readonly=True)
    try:
        learned = skipped = 0
        for _ in range(max(1, int(passes))):
            n, s = learn_from_events(policy, source.iter_events(), on_event)
            learned += n
            skipped += s
        return learned, skipped
    finally:
        if own:
            source.close()
