"""VW decision-service JSON (DSJSON): one cb_explore_adf decision per line, cost = -reward."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any, Iterator

from bandit import vwformat
from bandit.errors import BanditError
from bandit.log import jsontext
from simulations.ope.errors import OPEError
from simulations.ope.readers.events import EventBatch, ReplayEvent
from simulations.ope.readers.jsonvalues import finite_number, namespaces, parse_time, propensity_problem, reward_problem
from simulations.ope.readers.source import BadLines, ColumnMapping, count_lines, not_utf8, text_lines

ACTION_CACHE_SIZE = 50_000


class BadLine(Exception):
    """One DSJSON line that cannot be an event (the message says why); counted or fatal by BadLines."""


class DsjsonReader:
    """`_labelIndex` (0-based) or `_label_Action` (1-based) is the chosen action, `_label_probability` its
    probability, `a`/`p` the ranking and its probabilities; action ids come from `id` or `_tag` in each
    `c._multi` entry (else `a<index>`). Reward-only lines (no `c`) are skipped.

    Lines in artbandit's own layout (`artbandit log export --format dsjson`: namespaces `c_<name>`,
    actions `{"A": {"id=<id>": 1, ...}}`) are read with bandit.vwformat's inverse of the export, so
    escaped ids, names and values (spaces, `=`, `:`, a leading `_`) come back as they were logged.
    """

    def __init__(self, path: Path, fmt: str, mapping: ColumnMapping, notes: list[str], bad: BadLines) -> None:
        self.path, self.bad = path, bad
        # flattened features per distinct action (logs repeat a title's variants); one cache per reader
        self._action_cache: dict[str, dict] = {}

    def approx_events(self) -> int:
        return count_lines(self.path)

    def batches(self, size: int, need_events: bool) -> Iterator[EventBatch]:
        chunk: list[ReplayEvent] = []
        for lineno, raw in text_lines(self.path):
            try:
                ev = self._event(raw)
            except BadLine as exc:
                self.bad.add(f"{self.path}:{lineno}", str(exc))
                continue
            if ev is None:
                continue
            chunk.append(ev)
            if len(chunk) >= size:
                yield EventBatch.from_events(chunk, need_events)
                chunk = []
        if chunk:
            yield EventBatch.from_events(chunk, need_events)

    def _event(self, raw: bytes) -> ReplayEvent | None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadLine(not_utf8(raw, exc)) from None
        try:
            obj = jsontext.loads(text)
        except json.JSONDecodeError as exc:
            raise BadLine(f"invalid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise BadLine("a DSJSON line must be a JSON object")
        c = obj.get("c")
        if not isinstance(c, dict) or obj.get("_skipLearn"):
            return None
        multi = c.get("_multi")
        if not isinstance(multi, list) or not multi:
            raise BadLine("DSJSON line without c._multi actions")
        if "_labelIndex" in obj:
            chosen = _integer(obj["_labelIndex"])
        else:
            chosen = _integer(obj.get("_label_Action"))
            chosen = None if chosen is None else chosen - 1
        prob = finite_number(obj.get("_label_probability"))
        cost = finite_number(obj.get("_label_cost"))
        if chosen is None or "_label_probability" not in obj or "_label_cost" not in obj:
            raise BadLine("DSJSON line needs _label_cost, _label_probability and _labelIndex/_label_Action")
        if cost is None:
            raise BadLine(f"_label_cost {obj['_label_cost']!r} is not a finite number")
        if reward_problem(cost):
            raise BadLine(f"_label_cost {obj['_label_cost']!r} {reward_problem(cost)}")
        if prob is None or not 0 < prob <= 1:
            raise BadLine(f"probability {obj['_label_probability']!r} outside (0, 1]")
        if propensity_problem(prob):
            raise BadLine(f"probability {obj['_label_probability']!r} {propensity_problem(prob)}")
        if not 0 <= chosen < len(multi):
            raise BadLine(f"chosen action {chosen + 1} outside the {len(multi)} actions")
        ts = obj.get("Timestamp")
        if ts and parse_time(ts) is None:
            raise BadLine(f"Timestamp {ts!r} is neither seconds nor an ISO 8601 time")
        pmf = _pmf(obj.get("a"), obj.get("p"), len(multi))
        if vwformat.is_artbandit_dsjson(c):
            where = f"{self.path}: event {obj.get('EventId')!r}"
            ids = [_artbandit_id(action) for action in multi]
            return ReplayEvent(
                None,
                ids,
                None,
                chosen,
                prob,
                -cost,
                parse_time(ts) if ts else None,
                pmf,
                make_context=partial(_unescaped, vwformat.context_from_dsjson, c, where),
                make_features=partial(_unescaped, _artbandit_features, multi, where),
            )
        ids = [_action_id(action, i) for i, action in enumerate(multi)]
        return ReplayEvent(
            None,
            ids,
            None,
            chosen,
            prob,
            -cost,
            parse_time(ts) if ts else None,
            pmf,
            make_context=partial(_context, c),
            make_features=partial(self._features, multi),
        )

    def _features(self, multi: list) -> list[dict]:
        out = []
        cache = self._action_cache
        for action in multi:
            key = json.dumps(action, sort_keys=True) if isinstance(action, dict) else repr(action)
            hit = cache.get(key)
            if hit is None:
                if len(cache) > ACTION_CACHE_SIZE:
                    cache.clear()
                hit = cache[key] = _action_features(action)
            out.append(hit)
        return out


def _integer(value: Any) -> int | None:
    """An integer index from JSON (1 or 1.0), None for anything else (text, booleans, NaN, 1.5)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _pmf(a: Any, p: Any, k: int) -> list[float] | None:
    """The full logged pmf from the ranking `a` (1-based) and its probabilities `p`, when both are sane."""
    if not (isinstance(a, list) and isinstance(p, list) and len(a) == len(p) == k):
        return None
    pmf = [0.0] * k
    for act, pr in zip(a, p):
        i, v = _integer(act), finite_number(pr)
        if i is None or v is None:
            raise BadLine(f'"a"/"p" must be action numbers and probabilities, not {act!r}/{pr!r}')
        if 1 <= i <= k:
            pmf[i - 1] = v
    return pmf


def _action_id(action: Any, i: int) -> str:
    """`id` or `_tag`, else an indicator feature "id=<id>" (artbandit's export), else a<index>."""
    if isinstance(action, dict):
        aid = action.get("id", action.get("_tag"))
        if aid is not None:
            if isinstance(aid, (dict, list)):
                raise BadLine(f"action {i + 1} has a nested id ({type(aid).__name__})")
            return str(aid)
        for values in action.values():
            if isinstance(values, dict):
                for key in values:
                    if key.startswith("id="):
                        return key[3:]
    return f"a{i}"


def _artbandit_id(action: dict) -> str:
    """The action id of an artbandit export entry (its first key, `id=<escaped id>`)."""
    return vwformat.unescape(next(iter(action[vwformat.ACTION_NAMESPACE]))[len(vwformat.ID_FEATURE) + 1 :])


def _artbandit_features(multi: list) -> list[dict]:
    return [vwformat.action_from_dsjson(action)[1] for action in multi]


def _unescaped(read: Any, obj: Any, where: str) -> Any:
    """Features of an artbandit-layout line, built on first use; a damaged value is a one-line error."""
    try:
        return read(obj)
    except BanditError as exc:
        raise OPEError(f"{where}: {exc}") from None


def _context(c: dict) -> dict:
    context = namespaces({k: v for k, v in c.items() if not k.startswith("_")})
    if context and all(ns.startswith("c_") for ns in context):  # artbandit's export: "c_<namespace>"
        context = {ns[2:]: f for ns, f in context.items()}
    return context


def _action_features(action: Any) -> dict:
    action = action if isinstance(action, dict) else {"value": action}
    feat: dict[str, float | str] = {}
    for ns, values in namespaces({k: v for k, v in action.items() if k not in ("id", "_tag")}).items():
        for name, value in values.items():  # an action's features are one flat dict
            feat[name if name not in feat else f"{ns}.{name}"] = value
    feat.pop("id", None)
    return feat
