"""Rows of the derived event log (bandit.log.eventlog) for events a DecisionService closed.

The journal is the service's truth; the event log holds each shown decision joined with its final
reward, in the format replay and off-policy evaluation already read. Rows are built on the ranking
thread (`joined_row`, cheap) and appended on the writer thread (`append_joined`).
"""

from __future__ import annotations

import orjson

from bandit.cache import TextCache
from bandit.lifecycle.book import OpenEvent
from bandit.log.eventlog import EventLog

# candidate lists repeat: format each once. Bounded by bytes: keyed by the whole list's JSON, 10,000
# lists of 50 fresh 200-character ids held ~300 MB when it was bounded by count only
_ACTIONS_JSON = TextCache(10_000, 8 << 20)


def joined_row(ev: OpenEvent, value: float | None, when: float, defaulted: bool, spec: str) -> tuple:
    """What the derived event log gets for a closed event."""
    key = orjson.dumps(ev.actions)
    actions_json = _ACTIONS_JSON.get(key)
    if actions_json is None:
        actions_json = [orjson.dumps(a).decode() for a in ev.actions]
        _ACTIONS_JSON.put(key, actions_json, 3 * len(key) + 60 * len(actions_json) + 200)  # ~bytes: key, strings
    return (
        ev.event_id,
        ev.time,
        ev.model_version,
        spec,
        orjson.dumps(ev.context).decode(),
        tuple(actions_json),
        actions_json,
        ev.pmf,
        ev.chosen,
        ev.action_id,
        ev.probability,
        value,
        when,
        defaulted,
    )


def append_joined(log: EventLog, row: tuple) -> None:
    """Append one joined row (decision, then its final reward) to the event log's buffer."""
    (
        event_id,
        time,
        version,
        spec,
        ctx,
        key,
        actions_json,
        pmf,
        chosen,
        action_id,
        probability,
        value,
        when,
        defaulted,
    ) = row
    log.append(event_id, time, version, spec, None, ctx, key, actions_json, pmf, chosen, action_id, probability)
    log.set_reward(event_id, value, when, defaulted)
