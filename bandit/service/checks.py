"""Checks a DecisionService makes on every request before anything changes (one home for them).

Why separate from the service: a bad request must change nothing, so every check runs before the
first state change; keeping them here keeps that rule visible and the service module short.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from bandit.errors import BanditError

# Event and slot ids travel in URL paths: URL-safe characters only, never '/', '#', '?', '%' or space.
# Always used with fullmatch: `$` would also match before a trailing newline ("id\n" was accepted
# and could then never be rewarded).
EVENT_ID = re.compile(r"[A-Za-z0-9._:~@!$&'()*+,;=-]{1,256}")


# Pending events' memory: what one costs is estimated as this many times its context's and actions'
# JSON (measured RSS per pending event: ~6x for a 95 KB context, parsed dicts, the VW text and its
# parsed example), plus a fixed part for the event's own objects.
PENDING_JSON_FACTOR = 6
PENDING_FIXED_BYTES = 2048
DEFAULT_PENDING_BYTES = 256 << 20  # fits a small machine (a 1 GB container) with the service's ~100 MB


class CapacityError(BanditError):
    """The service holds as much as its memory budget allows (HTTP 503): retry after rewards or
    expiry free some, or give the service a larger budget."""


def pending_cost(context: Any, actions: Any) -> int:
    """Estimated bytes one pending event holds (see PENDING_JSON_FACTOR)."""
    size = len(orjson.dumps(context, option=orjson.OPT_NON_STR_KEYS)) + len(
        orjson.dumps(actions, option=orjson.OPT_NON_STR_KEYS)
    )
    return PENDING_JSON_FACTOR * size + PENDING_FIXED_BYTES


def check_capacity(pending_bytes: int, budget: int, n_pending: int) -> None:
    """CapacityError when the pending events already hold the budget."""
    if pending_bytes >= budget:
        raise CapacityError(
            f"memory budget for pending events is full ({n_pending} events, about "
            f"{pending_bytes >> 20} MiB of {budget >> 20} MiB): retry once rewards or expiry "
            "close some, or start the service with a larger --max-pending-mb"
        )


def check_actions(actions: Any, max_actions: int) -> list[str]:
    """The action ids of a request; BanditError for no, too many, malformed or repeated actions."""
    if type(actions) is not list or not actions:
        raise BanditError("actions must be a non-empty list")
    if len(actions) > max_actions:
        raise BanditError(f"too many actions: {len(actions)} (at most {max_actions})")
    ids = []
    for a in actions:
        if type(a) is not dict or type(a.get("id")) is not str or not a["id"] or len(a["id"]) > 256:
            raise BanditError("each action needs an 'id': a non-empty string of at most 256 characters")
        ids.append(a["id"])
    if len(set(ids)) != len(ids):
        raise BanditError("action ids must be unique within one request")
    return ids


def check_excluded(excluded: Any, ids: list[str], what: str) -> set[str]:
    """The excluded ids as a set; each must be one of the request's actions."""
    if excluded is None:
        return set()
    if not isinstance(excluded, (list, tuple)) or not all(type(x) is str for x in excluded):
        raise BanditError(f"{what} must be a list of action ids")
    unknown = set(excluded) - set(ids)
    if unknown:
        raise BanditError(f"{what} names an action that is not in actions: {sorted(unknown)[0]!r}")
    return set(excluded)


def check_event_id(event_id: Any) -> str:
    if type(event_id) is not str or not EVENT_ID.fullmatch(event_id):
        raise BanditError("eventId must be 1-256 URL-safe characters (letters, digits, ._:~- ...)")
    return event_id
