"""artbandit's own SQLite event log, read through bandit.EventLog (one reader of that schema, not two)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from bandit.log import jsontext
from simulations.ope.errors import OPEError
from simulations.ope.readers.events import EventBatch, ReplayEvent
from simulations.ope.readers.jsonvalues import finite_number, propensity_problem, reward_problem
from simulations.ope.readers.source import BadLines, ColumnMapping


def note_missing(notes: list[str], missing: int) -> None:
    """One note for rewards the log lacks (they count as 0, the default reward), replaced each pass."""
    notes[:] = [n for n in notes if "had no reward" not in n]
    if missing:
        notes.append(f"{missing} events had no reward; counted as reward 0 (the default reward)")


class SqliteReader:
    """Events in logging order via EventLog.iter_outcomes; contexts decoded only when events are asked for;
    `window` (since, until): only the events logged in that time span."""

    def __init__(
        self,
        path: Path,
        fmt: str,
        mapping: ColumnMapping,
        notes: list[str],
        bad: BadLines,
        window: tuple[float | None, float | None] = (None, None),
    ) -> None:
        self.path, self.notes, self.bad = path, notes, bad
        self.since, self.until = window

    def approx_events(self) -> int:
        from bandit import EventLog

        log = EventLog(self.path, readonly=True)
        try:
            return (
                log.count_between(self.since, self.until)
                if self.since is not None or self.until is not None
                else len(log)
            )
        finally:
            log.close()

    def batches(self, size: int, need_events: bool) -> Iterator[EventBatch]:
        from bandit import EventLog
        from bandit.errors import BanditError

        try:
            log = EventLog(self.path, readonly=True)
        except Exception as exc:  # noqa: BLE001 - any failure to open is a bad-input error here
            raise OPEError(f"{self.path}: not a readable artbandit event log ({exc})") from None
        missing = 0
        try:
            chunk: list[ReplayEvent] = []
            try:
                for n, (t, ctx, ids, feats, pmf, chosen, p, reward) in enumerate(
                    log.iter_outcomes(batch_size=size, since=self.since, until=self.until), 1
                ):
                    ev = self._event(n, t, ctx, ids, feats, pmf, chosen, p, reward, need_events)
                    if ev is None:
                        continue
                    if ev.reward is None:
                        missing += 1
                        ev.reward = 0.0
                    chunk.append(ev)
                    if len(chunk) >= size:
                        yield EventBatch.from_events(chunk, need_events)
                        chunk = []
            except BanditError as exc:
                raise OPEError(str(exc)) from None
            if chunk:
                yield EventBatch.from_events(chunk, need_events)
        finally:
            log.close()
        note_missing(self.notes, missing)

    def _event(self, n, t, ctx, ids, feats, pmf, chosen, p, reward, need_events) -> ReplayEvent | None:
        where = f"{self.path}: event {n}"
        if reward is not None:
            r = finite_number(reward)
            if r is None:
                self.bad.add(where, f"reward {reward!r} is not a finite number")
                return None
            if reward_problem(r):
                self.bad.add(where, f"reward {reward!r} {reward_problem(r)}")
                return None
            reward = r
        prob = finite_number(p)
        if propensity_problem(prob):
            self.bad.add(where, f"probability {p!r} {propensity_problem(prob)}")
            return None
        if not ids or not isinstance(chosen, int) or not 0 <= chosen < len(ids):
            self.bad.add(where, f"chosen index {chosen!r} outside its {len(ids or ())} candidates")
            return None
        context = None
        if need_events:  # decoded now, so a broken row is reported here with its number
            try:
                context = jsontext.loads(ctx) if ctx else {}
            except (json.JSONDecodeError, TypeError):
                self.bad.add(where, "context is not valid JSON")
                return None
            if not isinstance(context, dict):
                self.bad.add(where, "context is not a JSON object")
                return None
        # ids not copied (the log shares one list per candidate set); the pmf decoded only if needed
        return ReplayEvent(context, ids, feats, chosen, prob, reward, t, pmf_text=pmf)  # type: ignore[arg-type]
