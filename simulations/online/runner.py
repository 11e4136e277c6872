"""Run policies on a simulated audience through the bandit Rank/Reward API and write the results.

Every policy sees the same stream of impressions (same seed, common random numbers), is called
exactly as a service would call it (`rank(context, actions, user_id=, now=)`, `reward(event_id,
value, now=)`), and is built only by `bandit.make_policy`. With a reward delay, click rewards are
delivered at their simulated arrival time; impressions without a reward get the policy's default
reward when its window (`reward_wait_s`) closes; at the end the pending queue is flushed.
"""

from __future__ import annotations

import heapq
import json
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from safeio.atomic import atomic_dir
from safeio.jsonl import json_safe
from safeio.outdir import OutputFolder
from safeio.progress import Progress, no_progress
from simulations.choices import REWARDS
from simulations.errors import SimulationError
from simulations.online.metrics import Trace, policy_metrics, reference_metrics
from simulations.world.environment import Environment, Stream
from simulations.world.scenarios import PRESETS, Scenario, load_scenario

DEFAULT_POLICIES = ("vw:select", "linucb", "ts-per-title", "uniform")
METRICS_SCHEMA = "artbandit.simulation/1"
PROGRESS_EVERY = 2048


def _make(spec: str, *, seed: int, log: Any, scenario: Scenario):
    from bandit import BanditError, make_policy

    try:
        # the scenario's window on the simulated clock (0 = learn when the reward arrives); event
        # ids from the seed too (the bandit's default is OS randomness), so a run's log repeats
        return make_policy(spec, seed=seed, id_seed=seed, log=log, reward_wait_s=scenario.reward_wait_s)
    except BanditError as exc:
        raise SimulationError(f"policy {spec!r}: {exc}") from None


def check_policies(specs: Sequence[str]) -> None:
    """Fail fast (before any work) on an unknown policy name or VW arguments off the allowlist
    (bandit.policies.specs.check_spec: the one argument policy of every command)."""
    from bandit import BanditError
    from bandit.policies.specs import check_spec

    for spec in specs:
        try:
            check_spec(spec)
        except BanditError as exc:
            raise SimulationError(str(exc)) from None


def run_policy(
    env: Environment,
    stream: Stream,
    policy: Any,
    *,
    reward: str = "click",
    on_progress: Callable[[int], None] | None = None,
) -> Trace:
    """Drive one policy through the stream; returns what it chose and what happened."""
    from bandit import ExpiredEventError

    n = stream.n
    chosen = np.empty(n, np.int64)
    explored = np.zeros(n, bool)
    clicks = np.zeros(n, bool)
    plays = np.zeros(n, bool)
    quality = reward == "quality_play"
    sc = env.scenario
    delay = sc.reward_delay_s
    rank, give, outcome = policy.rank, policy.reward, env.outcome
    delays = (
        np.random.default_rng(np.random.SeedSequence([env.seed, 7])).exponential(delay, size=n).tolist()
        if delay > 0
        else None
    )
    queue: list[tuple[float, int, str]] = []
    late = 0
    last_time = due = 0.0
    for imp in env.iter_stream(stream):
        t, now = imp.t, imp.time_s
        if queue and queue[0][0] <= now:
            while queue and queue[0][0] <= now:
                due, _, eid = heapq.heappop(queue)
                try:
                    give(eid, 1.0, now=due)
                except ExpiredEventError:
                    late += 1
        d = rank(imp.context, imp.actions, user_id=imp.user_id, now=now)
        i = d.index
        chosen[t] = i
        explored[t] = d.pmf[d.index] < max(d.pmf)  # not the most probable action
        click, play = outcome(imp, i)
        clicks[t] = click
        plays[t] = play
        success = play if quality else click
        if delays is None:
            give(d.event_id, 1.0 if success else 0.0, now=now)
        elif success:
            heapq.heappush(queue, (now + delays[t], t, d.event_id))
        last_time = now
        if on_progress is not None and t % PROGRESS_EVERY == PROGRESS_EVERY - 1:
            on_progress(PROGRESS_EVERY)
    # flush: deliver every reward still in flight, then close every window
    while queue:
        due, _, eid = heapq.heappop(queue)
        try:
            give(eid, 1.0, now=due)
        except ExpiredEventError:
            late += 1
    policy.expire(now=max(last_time, due if delays else 0.0) + sc.reward_wait_s + 1.0)
    if getattr(policy, "pending_count", 0):
        raise SimulationError(f"policy {policy.spec}: {policy.pending_count} events still pending after flush")
    if on_progress is not None:
        on_progress(n % PROGRESS_EVERY)
    return Trace(chosen, explored, clicks, plays, late)


def run_simulation(
    scenario: Scenario | str,
    policies: Sequence[str] = DEFAULT_POLICIES,
    *,
    impressions: int,
    seed: int = 0,
    reward: str = "click",
    log_policy: str | None = "uniform",
    out_dir: str | Path | None = None,
    variants: Sequence[str | Path] | None = None,
    compare_rewards: bool | None = None,
    report: bool = True,
    jobs: int = 1,
    progress: Progress | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Run every policy on the same simulated audience; returns metrics (and writes OUT/ if given).

    OUT/metrics.json, OUT/report.html and OUT/events.sqlite (the log of `log_policy`) are written
    into a temporary folder that replaces OUT only when complete. `compare_rewards` (default: on
    when the scenario has clickbait) reruns the first learning policy with the other reward so the
    click vs quality-play trade-off is shown in numbers. `jobs` > 1 runs the policies in that many
    processes, as tasks on a local engine (safeio.engine; each rebuilds the same audience and stream
    from the seed): same results, less wall time; progress then moves when a policy's run finishes.

    OUT follows safeio.OutputFolder: a folder artbandit did not write is never replaced, one holding
    an input (a --variants folder, the scenario file) is refused, and an earlier simulate output of
    other inputs or options is replaced only with `force`. `progress(done, total, "impressions")`
    reports the impressions run so far over all policies (safeio.progress; the CLI draws the bar).
    """
    report_progress = progress or no_progress
    if reward not in REWARDS:
        raise SimulationError(f"unknown reward {reward!r} (choose from {', '.join(REWARDS)})")
    if impressions < 1:
        raise SimulationError("impressions must be >= 1")
    if jobs < 1:
        raise SimulationError("jobs must be >= 1")
    policies = list(policies) or list(DEFAULT_POLICIES)
    check_policies(policies + ([log_policy] if log_policy else []))
    sc = load_scenario(scenario) if isinstance(scenario, str) else scenario
    folder = None
    if out_dir is not None:
        inputs = [str(v) for v in variants or ()]
        if isinstance(scenario, str) and scenario not in PRESETS and Path(scenario).is_file():
            inputs.append(scenario)
        folder = OutputFolder(
            Path(out_dir),
            "simulate",
            inputs,
            {
                "scenario": sc.to_dict(),
                "policies": policies,
                "impressions": impressions,
                "seed": seed,
                "reward": reward,
                "log_policy": log_policy,
                "compare_rewards": compare_rewards,
                "variants": [os.path.abspath(v) for v in variants or ()],
            },
        )
        folder.check(force=force)  # before any work: refuses a stranger's folder or one holding an input
    env = Environment(sc, seed=seed, variants=variants)
    stream = env.generate(impressions)

    runs: list[dict[str, Any]] = [{"spec": p, "reward": reward, "role": "evaluated"} for p in policies]
    if log_policy and log_policy not in policies:
        runs.append({"spec": log_policy, "reward": reward, "role": "logging"})
    if compare_rewards is None:
        compare_rewards = sc.clickbait_per_title > 0
    learner = next((p for p in policies if p != "uniform"), None)
    other = "quality_play" if reward == "click" else "click"
    if compare_rewards and learner:
        runs.append({"spec": learner, "reward": other, "role": "trade-off"})
    labels: set[str] = set()
    for r in runs:
        label = r["spec"] if r["reward"] == reward else f"{r['spec']} [reward={r['reward']}]"
        base, k = label, 2
        while label in labels:
            label, k = f"{base} #{k}", k + 1
        labels.add(label)
        r["label"] = label

    def execute(tmp: Path | None) -> dict[str, Any]:
        log_path = None if tmp is None else tmp / "events.sqlite"
        logged = False
        for r in runs:  # the first run of the logging policy with the main reward writes the log
            r["log"] = log_path is not None and not logged and r["spec"] == log_policy and r["reward"] == reward
            logged = logged or r["log"]
        results: dict[str, Any] = {}
        traces: dict[str, Trace] = {}
        total, count = impressions * len(runs), [0]

        def advance(n: int) -> None:  # runs report impressions since their last call; sum them
            count[0] += n
            report_progress(count[0], total, "impressions")

        if jobs > 1 and len(runs) > 1:
            done = _run_on_engine(runs, sc, seed, variants, impressions, log_path, jobs, advance)
        else:
            done = [_run_one(env, stream, r, seed, log_path, advance) for r in runs]
        for r, (m, trace) in zip(runs, done):
            results[r["label"]] = m
            traces[r["label"]] = trace
        metrics = {
            "schema": METRICS_SCHEMA,
            "scenario": sc.to_dict(),
            "seed": seed,
            "impressions": impressions,
            "reward": reward,
            "log_policy": log_policy,
            "events": "events.sqlite" if logged else None,
            "catalog": {
                "titles": len(env.titleset.titles),
                "variants": int(sum(len(t.variants) for t in env.titleset.titles)),
                "real_variants": env.titleset.real,
                "feature_names": list(env.titleset.feature_names),
            },
            "segments": env.segment_names,
            "references": {rw: reference_metrics(env, stream, rw) for rw in REWARDS},
            "policies": results,
        }
        if compare_rewards and learner:
            metrics["tradeoff"] = tradeoff(results, learner, reward)
        if tmp is not None:
            (tmp / "metrics.json").write_text(json.dumps(json_safe(metrics), indent=2) + "\n")
            if report:
                from simulations.reports.simulation import write_simulation_report

                write_simulation_report(tmp / "report.html", metrics, env, stream, traces)
        return metrics

    if folder is None:
        return json_safe(execute(None))
    with atomic_dir(folder.path) as tmp:
        metrics = execute(tmp)
        folder.write_marker(tmp)
    return json_safe(metrics)


def _run_one(
    env: Environment,
    stream: Stream,
    run: dict[str, Any],
    seed: int,
    log_path: Path | None,
    on_progress: Callable[[int], None] | None,
) -> tuple[dict[str, Any], Trace]:
    """One policy through the stream: its metrics and its trace."""
    sc = env.scenario
    policy = _make(run["spec"], seed=seed, log=log_path if run["log"] else None, scenario=sc)
    try:
        trace = run_policy(env, stream, policy, reward=run["reward"], on_progress=on_progress)
    finally:
        policy.close()
    m = policy_metrics(env, stream, trace, run["reward"], floor=sc.exposure_floor)
    m.update(policy=run["spec"], reward=run["reward"], role=run["role"], logged=run["log"])
    return m, trace


def _worker(args: tuple) -> tuple[dict[str, Any], Trace]:
    """_run_one as an engine task: the audience and stream are rebuilt from the seed (the same ones
    the parent has; Environment and generate are deterministic)."""
    scenario, seed, variants, impressions, run, log_path = args
    env = Environment(scenario, seed=seed, variants=variants)
    return _run_one(env, env.generate(impressions), run, seed, log_path, None)


def _run_on_engine(
    runs: list[dict[str, Any]],
    scenario: Scenario,
    seed: int,
    variants: Any,
    impressions: int,
    log_path: Path | None,
    jobs: int,
    on_progress: Callable[[int], None],
) -> list[tuple[dict[str, Any], Trace]]:
    """Every run as a task on a local engine of `jobs` processes (safeio.engine), results in the
    order of `runs`; progress counts a run's impressions when it finishes."""
    from safeio.engine.local import LocalEngine

    done: list[Any] = [None] * len(runs)
    with LocalEngine(min(jobs, len(runs))) as engine:
        items = [(scenario, seed, variants, impressions, r, log_path) for r in runs]
        for res in engine.imap(_worker, items):
            if not res.ok:
                raise SimulationError(f"{runs[res.index]['label']}: {res.error}")
            done[res.index] = res.value
            on_progress(impressions)
    return done


def tradeoff(results: dict[str, Any], spec: str, reward: str) -> dict[str, Any]:
    """The same policy optimising clicks vs quality plays, side by side."""
    rows = {}
    for label, m in results.items():
        if m["policy"] == spec:
            rows[m["reward"]] = {
                "label": label,
                "ctr": m["ctr"],
                "quality_play_rate": m["quality_play_rate"],
                "expected_ctr": m["expected_ctr"],
                "expected_play_rate": m["expected_play_rate"],
                "clickbait_share": m["exposure"]["clickbait_share"],
            }
    out: dict[str, Any] = {"policy": spec, "by_reward": rows}
    if "click" in rows and "quality_play" in rows:
        c, q = rows["click"], rows["quality_play"]
        out["clicks_given_up"] = c["expected_ctr"] - q["expected_ctr"]
        out["quality_plays_gained"] = q["expected_play_rate"] - c["expected_play_rate"]
    return out
