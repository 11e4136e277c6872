"""What the dashboard plots, kept as it happens: per-minute counts and reward estimates, drift
alarms, and impressions per action.

Why per-minute sums and not the event log: the dashboard polls every few seconds, and reading the
SQLite event log on the event loop would stall ranking; these sums cost a few dictionary updates
per event and stay bounded (the last `KEEP_MINUTES` minutes, at most `MAX_ACTIONS` action ids,
`MAX_DRIFT` drift alarms).

The three reward series, per minute of closing time, each a mean with a 95% normal interval:
- live: the rewards of the live policy's own decisions;
- baseline: the inverse-propensity estimate of always serving the baseline (the first eligible
  action), r * 1[chosen = baseline] / p;
- uniform: the same estimate for a uniform random choice, r * (1/k) / p.
Both estimates use the logged propensities, so they are unbiased while every action has p > 0.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from typing import Any, Callable

import orjson

from bandit.log.schema import DriftEvent

KEEP_MINUTES = 24 * 60
PUBLISHED_MINUTES = 120  # what the learner hands the rankers (the dashboard plots the last 120)
LIVE_STATS = "dashboard-live.json"  # their name in the event stream's store (`--workers`)
PUBLISH_EVERY_S = 2.0
MAX_ACTIONS = 20_000  # action ids (<= 256 characters each): a few MB at most
MAX_DRIFT = 500
MAX_SEGMENT_CELLS = 20_000  # (segment value, action id) pairs counted for the per-segment view
MAX_SEGMENT_VALUES = 50
Z95 = 1.959964


class _Sum:
    __slots__ = ("n", "s", "ss")

    def __init__(self) -> None:
        self.n = 0
        self.s = 0.0
        self.ss = 0.0

    def add(self, x: float) -> None:
        self.n += 1
        self.s += x
        self.ss += x * x

    def wire(self) -> dict[str, Any] | None:
        if self.n == 0:
            return None
        mean = self.s / self.n
        var = max(self.ss / self.n - mean * mean, 0.0) * (self.n / (self.n - 1) if self.n > 1 else 1.0)
        half = Z95 * math.sqrt(var / self.n) if self.n > 1 else None
        return {
            "mean": mean,
            "lo": None if half is None else mean - half,
            "hi": None if half is None else mean + half,
            "n": self.n,
        }


class _Minute:
    __slots__ = ("baseline", "decisions", "live", "rewards", "uniform")

    def __init__(self) -> None:
        self.decisions = 0
        self.rewards = 0
        self.live = _Sum()
        self.baseline = _Sum()
        self.uniform = _Sum()


class LiveStats:
    """Thread-safe: ranks and rewards count on the event loop, closed events on the writer thread.

    With `--workers` the learner counts (it sees every event: `attach_learner`) and publishes
    `to_json` to the event stream's store; a ranker's LiveStats has a `source` that reads it back
    (at most once a second, when the dashboard asks)."""

    def __init__(self, source: Callable[[], bytes | None] | None = None) -> None:
        self._source = source
        self._loaded = -1e9
        self.version = 0  # counts changes, so the learner publishes only when something changed
        self._lock = threading.Lock()
        self._minutes: OrderedDict[int, _Minute] = OrderedDict()
        self.drift: list[dict[str, Any]] = []
        # action id -> [impressions (chosen), available (among the eligible), reward sum of its impressions]
        self.actions: dict[str, list[float]] = {}
        # the context's segment-like feature (first string feature whose name holds "segment"):
        # (namespace, name, value) -> action id -> [impressions, reward sum]
        self.segments: dict[tuple[str, str, str], dict[str, list[float]]] = {}
        self._segment_cells = 0

    def _minute(self, t: float) -> _Minute:
        m = int(t // 60)
        b = self._minutes.get(m)
        if b is None:
            b = self._minutes[m] = _Minute()
            while len(self._minutes) > KEEP_MINUTES:
                self._minutes.popitem(last=False)
        return b

    def decided(self, n: int = 1, now: float | None = None) -> None:
        with self._lock:
            self.version += 1
            self._minute(time.time() if now is None else now).decisions += n

    def rewarded(self, n: int = 1, now: float | None = None) -> None:
        with self._lock:
            self.version += 1
            self._minute(time.time() if now is None else now).rewards += n

    def closed(self, rows: list) -> None:
        """The rows the service appends to its event log (bandit.service.joined_log.joined_row, DriftEvent)."""
        with self._lock:
            self.version += 1
            for row in rows:
                if not isinstance(row, DriftEvent) and row[11] is not None:
                    self._segment(row[4], row[9], float(row[11]))
                if isinstance(row, DriftEvent):
                    if len(self.drift) < MAX_DRIFT:
                        self.drift.append({"t": row.time, "statistic": row.statistic, "eventId": row.event_id})
                    continue
                (_, _, _, _, _, _, actions_json, _pmf, chosen, action_id, p, value, when, _) = row
                if value is None or not p:
                    continue
                k = len(actions_json)
                b = self._minute(when)
                r = float(value)
                b.live.add(r)
                b.baseline.add(r / p if chosen == 0 else 0.0)
                b.uniform.add(r / (k * p))
                stats = self.actions.get(action_id)
                if stats is None and len(self.actions) < MAX_ACTIONS:
                    stats = self.actions[action_id] = [0, 0, 0.0]
                if stats is not None:
                    stats[0] += 1
                    stats[2] += r
                for a in actions_json:
                    aid = _action_id(a)
                    st = self.actions.get(aid)
                    if st is None and len(self.actions) < MAX_ACTIONS:
                        st = self.actions[aid] = [0, 0, 0.0]
                    if st is not None:
                        st[1] += 1

    def _segment(self, context_json: str, action_id: str, reward: float) -> None:
        if "segment" not in context_json:  # cheap test first: most contexts are parsed only if they may have one
            return
        import orjson

        try:
            ctx = orjson.loads(context_json)
        except orjson.JSONDecodeError:
            return
        for ns, feats in ctx.items() if isinstance(ctx, dict) else ():
            for name, value in feats.items() if isinstance(feats, dict) else ():
                if "segment" in name.lower() and isinstance(value, str) and len(value) <= 256:
                    key = (ns, name, value)
                    cells = self.segments.get(key)
                    if cells is None:
                        if len(self.segments) >= MAX_SEGMENT_VALUES:
                            return
                        cells = self.segments[key] = {}
                    cell = cells.get(action_id)
                    if cell is None:
                        if self._segment_cells >= MAX_SEGMENT_CELLS:
                            return
                        self._segment_cells += 1
                        cell = cells[action_id] = [0, 0.0]
                    cell[0] += 1
                    cell[1] += reward
                    return

    def segment_counts(self, action_ids: list[str]) -> list[tuple[tuple[str, str, str], dict[str, tuple[int, float]]]]:
        """Per segment value that saw any of `action_ids`: their impressions and reward sums."""
        self._fresh()
        with self._lock:
            out = []
            for key, cells in self.segments.items():
                mine = {a: (int(cells[a][0]), float(cells[a][1])) for a in action_ids if a in cells}
                if mine:
                    out.append((key, mine))
            return out

    def minutes(self, last: int = PUBLISHED_MINUTES) -> list[dict[str, Any]]:
        self._fresh()
        with self._lock:
            keys = list(self._minutes)[-last:]
            return [
                {
                    "t": m * 60,
                    "decisions": b.decisions,
                    "rewards": b.rewards,
                    "live": b.live.wire(),
                    "baseline": b.baseline.wire(),
                    "uniform": b.uniform.wire(),
                }
                for m, b in ((m, self._minutes[m]) for m in keys)
            ]

    def action(self, action_id: str) -> tuple[int, int, float]:
        self._fresh()
        with self._lock:
            st = self.actions.get(action_id)
            return (0, 0, 0.0) if st is None else (int(st[0]), int(st[1]), float(st[2]))

    # -- the learner's counts, handed to the rankers (--workers) ---------------------------------
    def to_json(self) -> dict[str, Any]:
        """Everything the dashboard reads, bounded: the last PUBLISHED_MINUTES minutes, the drift
        alarms, the actions' and the segments' counts (each bounded by its MAX_*)."""
        with self._lock:
            minutes = list(self._minutes.items())[-PUBLISHED_MINUTES:]
            return {
                "minutes": [
                    [m, b.decisions, b.rewards, *([x.n, x.s, x.ss] for x in (b.live, b.baseline, b.uniform))]
                    for m, b in minutes
                ],
                "drift": list(self.drift),
                "actions": self.actions,
                "segments": [[*key, cells] for key, cells in self.segments.items()],
            }

    def load_json(self, data: dict[str, Any]) -> None:
        """Replace the counts with the learner's `to_json`."""
        minutes: OrderedDict[int, _Minute] = OrderedDict()
        for m, decisions, rewards, *sums in data["minutes"]:
            b = minutes[int(m)] = _Minute()
            b.decisions, b.rewards = int(decisions), int(rewards)
            for target, (n, total, squares) in zip((b.live, b.baseline, b.uniform), sums):
                target.n, target.s, target.ss = int(n), float(total), float(squares)
        segments = {(ns, name, value): cells for ns, name, value, cells in data["segments"]}
        with self._lock:
            self._minutes = minutes
            self.drift = list(data["drift"])
            self.actions = dict(data["actions"])
            self.segments = segments
            self._segment_cells = sum(len(c) for c in segments.values())

    def _fresh(self) -> None:
        """On a ranker: the learner's counts, read again if the last read is over a second old."""
        if self._source is None or time.monotonic() - self._loaded < 1.0:
            return
        self._loaded = time.monotonic()
        try:
            raw = self._source()
            if raw is not None:
                self.load_json(orjson.loads(raw))
        except Exception:  # noqa: BLE001 - the stream is away or the copy is damaged: keep the last counts
            logging.getLogger("artbandit.serve").warning("dashboard: the learner's counts could not be read")


def attach_learner(svc: Any, stats: LiveStats) -> None:
    """Count what a learner applies (`--workers`): every rank message becomes a `_record`, rewards and
    closed events as in the single process (`attach`), with the messages' own times."""
    record = svc._record

    def recorded(ev: Any, step: Any) -> None:
        record(ev, step)
        stats.decided(now=ev.time)

    attach(svc, stats)
    svc._record = recorded


def _action_id(action_json: str) -> str:
    """The id of an action in its event-log JSON form ('{"id":...,"features":...}'); parsed each
    time (about a microsecond), not cached: a cache keyed by these strings would grow with the
    features' size, not their number."""
    import orjson

    return str(orjson.loads(action_json).get("id"))


def attach(svc: Any, stats: LiveStats) -> None:
    """Count a service's ranks, rewards and closed events into `stats`.

    Why wrapping the instance's methods: the counts need no change to the DecisionService (whose
    journal ordering must not move), and closed events are exactly the rows `write_joined` receives,
    on the writer thread, after the journal commit."""
    rank, rank_multi, reward, reward_multi, write_joined = (
        svc.rank,
        svc.rank_multislot,
        svc.reward,
        svc.reward_multislot,
        svc.write_joined,
    )

    def counted(call: Any, tick: Any) -> Any:
        def wrapped(*a: Any, **kw: Any) -> Any:
            out = call(*a, **kw)
            tick()
            return out

        return wrapped

    def write_joined_seen(joined: list) -> None:
        write_joined(joined)
        try:
            stats.closed(joined)
        except Exception:  # noqa: BLE001 - the dashboard must never fail a commit
            logging.getLogger("artbandit.serve").exception("dashboard counts: a closed event was not counted")

    svc.rank, svc.rank_multislot = counted(rank, stats.decided), counted(rank_multi, stats.decided)
    svc.reward, svc.reward_multislot = counted(reward, stats.rewarded), counted(reward_multi, stats.rewarded)
    svc.write_joined = write_joined_seen
