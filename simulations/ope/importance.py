"""Feature importance for `evaluate`: replay the chosen candidate with one context namespace, or one
action feature, left out; the drop in estimated reward (DR, paired interval) is that feature's worth.
Also flags features that look like ids or timestamps (strings with very many distinct values;
numbers with very many values that only go up or look like epoch seconds), as Personalizer did: they rarely generalise, and they are what re-identifies people.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from simulations.ope.estimators import OPEArrays, paired_difference
from simulations.ope.readers.cells import column_groups
from simulations.ope.scoring import Task, arrays_for, score_all

if TYPE_CHECKING:
    from safeio.engine.base import Engine
from simulations.ope.readers.jsonvalues import DEFAULT_NAMESPACE

ID_LIKE_SHARE = 0.5  # distinct values / events above this: looks like an id or a timestamp
SAMPLE_EVENTS = 20_000  # events read to count distinct values


def context_groups(namespaces: dict[str, dict[str, None]]) -> dict[str, list[str]]:
    """Feature groups of the context, each with the features it holds: every named namespace is one
    group; the default namespace (a flat log's columns) is split by column prefix, one group each
    (user_feature_0..3 -> 'context/user_feature'), so a flat CSV's importance is per column group."""
    groups: dict[str, list[str]] = {}
    for ns, feats in namespaces.items():
        by_prefix = column_groups(list(feats)) if ns == DEFAULT_NAMESPACE else {}
        if len(by_prefix) > 1:
            for prefix, cols in by_prefix.items():
                groups[f"{ns}/{prefix}"] = cols
        else:
            groups[ns] = list(feats)
    return groups


def feature_groups(log: Any) -> tuple[dict[str, list[str]], list[str], dict[str, dict[str, Any]]]:
    """Context feature groups with their features (context_groups: what the report prints as the
    grouping), action feature names, and per feature its distinct-value count over the first
    SAMPLE_EVENTS events (with an id/timestamp flag)."""
    namespaces: dict[str, dict[str, None]] = {}
    action_feats: dict[str, None] = {}
    values: dict[str, set] = {}
    previous: dict[str, float] = {}
    monotone: dict[str, bool] = {}
    seen = 0
    for chunk in log.open().chunks():
        for ev in chunk:
            for ns, feats in ev.context.items():
                seen_feats = namespaces.setdefault(ns, {})
                for name, v in feats.items():
                    seen_feats.setdefault(name)
                    key = f"{ns}.{name}"
                    values.setdefault(key, set()).add(v)
                    if isinstance(v, (int, float)) and not isinstance(v, bool):
                        if key in previous and v < previous[key]:
                            monotone[key] = False
                        monotone.setdefault(key, True)
                        previous[key] = v
            for feats in ev.action_features:
                for name in feats:
                    action_feats.setdefault(name)
            seen += 1
            if seen >= SAMPLE_EVENTS:
                break
        if seen >= SAMPLE_EVENTS:
            break
    cardinality = {}
    for key, vals in values.items():
        many = len(vals) / max(1, seen) > ID_LIKE_SHARE and len(vals) > 100
        if key in monotone:  # numbers: a measurement varies freely; a clock only goes up
            flag = many and (monotone[key] or min(vals) > 1e8)
        else:
            flag = many
        cardinality[key] = {"distinct": len(vals), "events": seen, "id_like": bool(flag)}
    return context_groups(namespaces), list(action_feats), cardinality


def feature_importance(
    log: Any,
    prepared: str,
    spec: str,
    full: OPEArrays | None,
    q_logged: np.ndarray,
    prep: dict[str, Any],
    *,
    seed: int = 0,
    engine: Engine | None = None,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Drop in DR value when each group is left out, most important first."""
    grouping, action_feats, cardinality = feature_groups(log)
    groups = [("context", g) for g in grouping] + [("action", f) for f in action_feats]
    tasks = [Task(log, prepared, spec, seed)] if full is None else []
    tasks += [
        Task(
            log,
            prepared,
            spec,
            seed,
            drop_context=name if kind == "context" else None,
            drop_action=name if kind == "action" else None,
        )
        for kind, name in groups
    ]
    results = score_all(tasks, engine)
    if full is None:
        first = results.pop(0)
        if isinstance(first, str):
            return {"policy": spec, "error": first}
        full = arrays_for(prep, first, q_logged)
    rows: list[dict[str, Any]] = []
    for (kind, name), res in zip(groups, results):
        if isinstance(res, str):
            rows.append({"kind": kind, "name": name, "error": res})
            continue
        reduced = arrays_for(prep, res, q_logged)
        d = paired_difference(full, reduced, "dr", confidence)
        rows.append({"kind": kind, "name": name, "drop": d["value"], "low": d["low"], "high": d["high"]})
    # most important first; a failed or non-finite drop last (a NaN key would scramble the order)
    rows.sort(key=lambda r: -r["drop"] if np.isfinite(r.get("drop", np.nan)) else np.inf)
    flagged = sorted(k for k, c in cardinality.items() if c["id_like"])
    return {
        "policy": spec,
        "estimator": "dr",
        "groups": rows,
        "cardinality": cardinality,
        "id_like": flagged,
        "grouping": grouping,
    }
