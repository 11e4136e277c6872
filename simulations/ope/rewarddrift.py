"""Change points of the logged reward stream, overall and per title (for `evaluate`'s curves).

The logged rewards are what the logging policy collected: a detected drop there means the audience
(or the catalogue) changed under the current policy. Uses bandit.policies.drift's Page-Hinkley test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bandit.policies.drift import change_points

MIN_TITLE_EVENTS = 2000  # fewer events than this: a title's stream is too short to test


def reward_changes(prep: dict[str, Any]) -> dict[str, Any]:
    """{"overall": [...], "titles": {name: [...]}}; each change: event index (in the whole log),
    direction, and the mean reward before and after it."""
    reward = np.asarray(prep["reward"], dtype=float)
    out: dict[str, Any] = {
        "detector": "page-hinkley (bandit.policies.drift)",
        "overall": _changes(reward, None),
        "titles": {},
    }
    titles, names = prep["title"], prep["title_names"]
    for t, name in enumerate(names):
        idx = np.flatnonzero(titles == t)
        if len(idx) >= MIN_TITLE_EVENTS:
            found = _changes(reward[idx], idx)
            if found:
                out["titles"][str(name)] = found
    return out


def logged_drifts(
    log_path: str | Path, prep: dict[str, Any], window: tuple[float | None, float | None] | None = None
) -> list[dict[str, Any]]:
    """The drift events a live Personalizer recorded in an artbandit SQLite log, each placed on the
    curves' axis: `event` = how many replayed events had been logged by the time it was detected.
    With a time window (since, until), only the detections inside it."""
    from bandit import EventLog

    log = EventLog(log_path, readonly=True)
    try:
        found = log.drift_events()
    finally:
        log.close()
    since, until = window or (None, None)
    found = [d for d in found if (since is None or d.time >= since) and (until is None or d.time < until)]
    times = np.asarray(prep["time"], dtype=float)
    return [
        {
            "event": int(np.count_nonzero(times <= d.time)),
            "time": d.time,
            "direction": d.direction,
            "statistic": d.statistic,
            "threshold": d.threshold,
            "floor": d.floor,
            "boost_events": d.boost_events,
        }
        for d in found
    ]


def _changes(r: np.ndarray, index: np.ndarray | None) -> list[dict[str, Any]]:
    found = change_points(r)
    out = []
    bounds = [0] + [i for i, _ in found] + [len(r)]
    for j, (i, kind) in enumerate(found):
        before, after = r[bounds[j] : i], r[i : bounds[j + 2]]
        out.append(
            {
                "event": int(i if index is None else index[i]),
                "direction": kind,
                "mean_before": float(before.mean()) if len(before) else None,
                "mean_after": float(after.mean()) if len(after) else None,
            }
        )
    return out
