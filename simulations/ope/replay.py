"""`artbandit replay`: stream a log, replay target policies through it, estimate with the chosen
estimators, write replay.json + report.html (run_replay; replay_log computes the result).

Not to be confused with simulations.ope.evaluate.evaluate (`artbandit evaluate`), which answers
"which policy should ship?": a fixed pair of estimators (SNIPS, DR), time buckets, a ship
decision, one engine task per policy."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from safeio.errors import OutputFolderError
from safeio.jsonl import json_safe
from safeio.outdir import OutputFolder
from simulations.ope.choices import DEFAULT_ESTIMATORS, DEFAULT_POLICIES, LEARN_ON
from simulations.ope.columnar import COLUMNAR
from simulations.ope.errors import OPEError
from simulations.ope.estimators import ESTIMATORS, OPEArrays
from simulations.ope.progressive import (
    ActionValueTally,
    BestFixedPolicy,
    resolve_policy,
    score_chunk,
)
from simulations.ope.readers import ColumnMapping, LogSource, open_log
from simulations.ope.streaming import PolicyStream, RunningSum

SCHEMA = "artbandit.replay/1"


def replay_log(
    log: str | Path | LogSource,
    policies: Sequence[Any] = DEFAULT_POLICIES,
    estimators: Sequence[str] = DEFAULT_ESTIMATORS,
    *,
    fmt: str = "auto",
    mapping: ColumnMapping | None = None,
    bootstrap: int = 0,
    confidence: float = 0.95,
    seed: int = 0,
    learn_on: str = "all",
    chunk_size: int = 10_000,
    curve_points: int = 100,
    max_bad_lines: int = 0,
    on_events: Callable[[int], None] | None = None,
) -> dict:
    """The replay results of every policy over one log, as a dict (the content of replay.json),
    without writing anything.

    Policies that need no per-event model (logged, uniform, best-fixed) with estimators that need no
    reward model (replay, ips, snips) are scored over columns batch by batch (simulations.ope.columnar);
    otherwise every event is replayed through the policies in order (progressive.score_chunk). Either
    way each batch feeds streaming estimators (simulations.ope.streaming) and is dropped, so memory does
    not grow with the log (except for bootstrap > 0, which keeps the per-event terms it resamples).
    on_events(n) is called after each chunk of each pass over the log (passes_needed() of them).
    max_bad_lines: malformed lines skipped and counted (reported in log.bad_lines) before stopping.
    """
    estimators = list(dict.fromkeys(estimators))
    for name in estimators:
        if name not in ESTIMATORS:
            raise OPEError(f"unknown estimator {name!r}; valid: {', '.join(ESTIMATORS)}")
    if not estimators:
        raise OPEError("no estimator given; valid: " + ", ".join(ESTIMATORS))
    if learn_on not in LEARN_ON:
        raise OPEError(f"learn_on must be one of {', '.join(LEARN_ON)}, not {learn_on!r}")
    if not policies:
        raise OPEError("no policy to evaluate; give at least one --policy")
    source = (
        log
        if isinstance(log, LogSource)
        else open_log(log, fmt, mapping, chunk_size=chunk_size, max_bad_lines=max_bad_lines)
    )
    need_model = "dm" in estimators or "dr" in estimators
    settings: dict[str, Any] = dict(points=curve_points, bootstrap=bootstrap)
    if not need_model and all(isinstance(p, str) and p in COLUMNAR for p in policies):
        names = _distinct([str(p) for p in policies])
        streams = [PolicyStream(estimators, **settings) for _ in policies]
        position, reward_sum = _columnar_pass(source, list(policies), streams, seed, on_events)
    else:
        position, reward_sum, streams, names = _progressive_passes(
            source, policies, need_model, seed, learn_on, on_events, estimators, settings
        )
    if position == 0:
        raise OPEError(f"{source.path}: the log has no usable events")

    results = []
    for name, stream in zip(names, streams):
        ests, curve = stream.result(confidence, seed)
        results.append({"name": name, "estimates": ests, "curve": curve})
    return {
        "schema": SCHEMA,
        "log": {
            "path": str(source.path),
            "format": source.format,
            "events": int(position),
            "logged_reward_mean": reward_sum.value / position,
            "notes": list(source.notes),
            "bad_lines": source.bad_lines.to_dict(),
        },
        "settings": {
            "estimators": estimators,
            "bootstrap": bootstrap,
            "confidence": confidence,
            "seed": seed,
            "learn_on": learn_on,
            "reward_model": "VW squared-loss regression (-q cA), 2-fold cross-fitted" if need_model else None,
        },
        "policies": results,
    }


def _distinct(names: list[str]) -> list[str]:
    """Two runs of the same spec need distinct names: the second is 'spec#2'."""
    return [f"{n}#{names[: i + 1].count(n)}" if names.count(n) > 1 else n for i, n in enumerate(names)]


def _columnar_pass(
    source: LogSource,
    policies: list[str],
    streams: list[PolicyStream],
    seed: int,
    on_events: Callable[[int], None] | None,
) -> tuple[int, RunningSum]:
    """Every policy scored over each batch's columns and streamed into its estimators (no events built,
    nothing per event kept). best-fixed first needs a pass for its hindsight action values."""
    from simulations.ope.columnar import ActionValueStream, LogColumns, score

    values = None
    if "best-fixed" in policies:
        tally = ActionValueStream()
        for batch in source.batches(need_events=False):
            tally.add(batch)
            if on_events:
                on_events(len(batch))
        values = tally.values()
    rng = np.random.default_rng(seed)
    n, reward_sum = 0, RunningSum()
    for batch in source.batches(need_events=False):
        cols = LogColumns.of(batch, rng.random(len(batch)))  # the same uniforms per chunk as the event path
        k = cols.n_candidates
        for spec, stream in zip(policies, streams):
            target, matched, zero = score(spec, cols, values)
            stream.add(OPEArrays(cols.reward, cols.probability, target, matched, zero_support=zero, n_candidates=k))
        n += len(batch)
        reward_sum.add(float(np.sum(cols.reward)))
        if on_events:
            on_events(len(batch))
    return n, reward_sum


def _progressive_passes(
    source: LogSource,
    policies: Sequence[Any],
    need_model: bool,
    seed: int,
    learn_on: str,
    on_events: Callable[[int], None] | None,
    estimators: list[str],
    settings: dict,
) -> tuple[int, RunningSum, list[PolicyStream], list[str]]:
    """Events replayed through every policy in order (a first pass fits the reward model and best-fixed)."""
    slots: list = []
    try:
        for spec in policies:
            slots.append(resolve_policy(spec, seed=seed))
    except BaseException:  # a bad spec after good ones: close what was already built
        for s in slots:
            if s.owned and hasattr(s.policy, "close"):
                s.policy.close()
        raise
    names = _distinct([s.name for s in slots])
    streams = [PolicyStream(estimators, **settings) for _ in slots]
    need_tally = any(s.needs_tally for s in slots)
    model = None
    reward_sum = RunningSum()
    try:
        if need_model or need_tally:  # first pass: the cross-fitted reward model and hindsight action values
            tally = ActionValueTally()
            if need_model:
                from simulations.ope.rewardmodel import CrossFitRewardModel

                model = CrossFitRewardModel(seed=seed)
            position = 0
            for chunk in source.chunks():
                for ev in chunk:
                    if model is not None:
                        model.learn(position, ev)
                    if need_tally:
                        tally.add(ev)
                    position += 1
                if on_events:
                    on_events(len(chunk))
            for s in slots:
                if s.needs_tally:
                    s.policy = BestFixedPolicy(tally.values())

        rng = np.random.default_rng(seed)
        position = 0
        for chunk in source.chunks():
            n = len(chunk)
            reward = np.fromiter((e.reward for e in chunk), np.float64, n)
            logged_p = np.fromiter((e.probability for e in chunk), np.float64, n)
            n_cand = np.fromiter((len(e.action_ids) for e in chunk), np.int32, n)
            q_hat = q_logged = None
            if model is not None:
                q_hat = [model.predict(position + i, ev) for i, ev in enumerate(chunk)]
                q_logged = np.array([q[ev.chosen_index] for q, ev in zip(q_hat, chunk)])
            score_chunk(slots, chunk, rng.random(n), q_hat, learn_on)
            for s, stream in zip(slots, streams):  # each slot holds this chunk's outputs only
                stream.add(
                    OPEArrays(
                        reward,
                        logged_p,
                        s.target_p.pop(),
                        s.matched.pop(),
                        s.dm.pop() if s.dm else None,
                        q_logged,
                        s.zero_support.pop(),
                        n_cand,
                    )
                )
            reward_sum.add(float(np.sum(reward)))
            position += n
            if on_events:
                on_events(n)
    finally:
        if model is not None:
            model.close()
        for s in slots:
            close = getattr(s.policy, "close", None) if s.owned else None
            if close:
                try:
                    close()
                except Exception:  # noqa: BLE001 - closing must not hide the real result or error
                    pass
    return position, reward_sum, streams, names


def passes_needed(policies: Sequence[Any], estimators: Sequence[str]) -> int:
    """Passes over the log: one, plus one for the reward model (dm/dr) or best-fixed's action values."""
    if "dm" in estimators or "dr" in estimators:
        return 2
    return 2 if any(p == "best-fixed" for p in policies) else 1


def run_replay(
    log: str | Path | LogSource,
    policies: Sequence[Any] = DEFAULT_POLICIES,
    estimators: Sequence[str] = DEFAULT_ESTIMATORS,
    out_dir: str | Path | None = None,
    *,
    force: bool = False,
    **options: Any,
) -> dict:
    """Evaluate `policies` on `log` with `estimators`; write OUT/replay.json and OUT/report.html if out_dir.

    Options are those of replay_log (fmt, mapping, bootstrap, confidence, seed, learn_on, chunk_size,
    curve_points, max_bad_lines, on_events). OUT is checked before the log is read
    (safeio.OutputFolder): it may not be or hold the log, a folder artbandit did not write is never
    replaced, and an earlier replay output is replaced only with force; the new folder is built
    aside and swapped in whole.
    """
    if out_dir is None:
        return replay_log(log, policies, estimators, **options)
    with replay_output(log, policies, estimators, out_dir, force=force, options=options) as write:
        result = replay_log(log, policies, estimators, **options)
        write(result)
    return result


@contextlib.contextmanager
def replay_output(
    log: str | Path | LogSource,
    policies: Sequence[Any],
    estimators: Sequence[str],
    out_dir: str | Path,
    *,
    force: bool = False,
    options: dict | None = None,
) -> Iterator[Callable[[dict], None]]:
    """The output rules of a replay, wherever its result is computed (here, or on Ray by
    artbandit.jobs): OUT is checked before any work, and the yielded `write(result)` builds
    replay.json and report.html aside and swaps them in whole, with the marker that makes the
    same replay's output recognisable whichever engine computed it."""
    folder = _output_folder(log, policies, estimators, out_dir, options or {})
    try:
        state = folder.check(force=force)
    except OutputFolderError as exc:
        raise OPEError(str(exc)) from None
    if state == "same":
        raise OPEError(f"{out_dir}: already holds this replay's output; use --force to replace it")

    def write(result: dict) -> None:
        from safeio.atomic import atomic_dir
        from simulations.ope.report import write_html_report

        with atomic_dir(folder.path) as staging:
            (staging / "replay.json").write_text(json.dumps(json_safe(result), indent=2) + "\n", "utf-8")
            write_html_report(result, staging / "report.html")
            folder.write_marker(staging)

    yield write


def _output_folder(
    log: Any, policies: Sequence[Any], estimators: Sequence[str], out_dir: str | Path, options: dict
) -> OutputFolder:
    path = log.path if isinstance(log, LogSource) else Path(log)
    mapping = options.get("mapping") or (log.mapping if isinstance(log, LogSource) else None)
    inputs = [path] + ([mapping.action_features] if mapping is not None and mapping.action_features else [])
    key = {
        "log": str(Path(path).resolve()),
        "policies": [str(p) for p in policies],
        "estimators": list(estimators),
        "seed": options.get("seed", 0),
    }
    return OutputFolder(Path(out_dir), "replay", inputs, key)
