"""Drift events in the SQLite event log: a live Personalizer records each detected drop (table
`drift_events`, no user or context), old /2 logs gain the table, two writers do not collide.

The drift test waits one reward window: with delayed rewards, the first rewards learned are mostly
clicks (non-clicks get their default only when the window closes), and a detector warmed up on them
raised a false drop ~1,000 rewards in. With the clock (bandit.policies.drift_hook.drift_clock) no false drop;
the known change is still found, by the library policies and by the decision service.

Only drops while viewers are still arriving count: once traffic stops, the last clicks arrive and
then only the defaults of the last window, a real drop in what is learned (an end-of-run artefact
of every finite simulation, not of a live service).
"""

from __future__ import annotations

import heapq
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import tests
from bandit import Personalizer, VWPolicy
from bandit.log.eventlog import DriftEvent, EventLog
from bandit.service.config import ServiceConfig
from bandit.service.decision_service import DecisionService
from simulations.online.runner import run_policy
from simulations.world.environment import Environment
from simulations.world.scenarios import load_scenario
from tests.bandit_helpers import SEGMENTS, Stream, click_probabilities, make_actions

N, CHANGE = 9000, 4000  # every segment's taste moves to the next segment's at CHANGE


ROOT = Path(tests.__file__).resolve().parents[1]  # the checkout


def _drive(policy, n: int = N, change: int = CHANGE, seed: int = 0) -> list[str]:
    """Seeded viewers; at `change` each segment clicks what the next one liked (a known drop in the
    reward of what the policy learned to show). Rewards arrive at once; the clock is the event index.
    Returns every user id shown."""
    stream, actions = Stream(seed), make_actions()
    outcome = np.random.default_rng(seed + 1)
    users = []
    for t in range(n):
        user_id, context, _ = stream.next()
        users.append(user_id)
        segment = context["user"]["segment"]
        if t >= change:
            segment = SEGMENTS[(SEGMENTS.index(segment) + 1) % len(SEGMENTS)]
        p = click_probabilities(segment)
        d = policy.rank(context, actions, user_id=user_id, now=float(t))
        policy.reward(d.event_id, float(outcome.random() < p[d.index]), now=float(t))
    return users


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("drift") / "events.sqlite"
    policy = VWPolicy(seed=0, log=path)
    users = _drive(policy)
    detected = list(policy.drift_events)
    policy.close()
    return path, detected, users


def test_a_detected_drop_is_in_the_log_with_its_numbers(logged_run) -> None:
    path, detected, users = logged_run
    assert len(detected) == 1 and CHANGE <= detected[0] <= CHANGE + 1500  # the known drop, found once
    db = sqlite3.connect(path)  # plain sqlite3: independent of artbandit's reader
    cols = [r[1] for r in db.execute("PRAGMA table_info(drift_events)")]
    assert not {"user", "context"} & set(cols)
    rows = db.execute(
        "SELECT time, writer, direction, statistic, threshold, floor, boost_events, n_learned,"
        " event_id FROM drift_events"
    ).fetchall()
    assert len(rows) == 1
    time, writer, direction, statistic, threshold, floor, boost, n_learned, event_id = rows[0]
    assert (direction, threshold, floor, boost, n_learned) == ("drop", 60.0, 0.05, 3000, detected[0])
    assert statistic > threshold
    # the event whose reward raised the alarm: the (n_learned + 1)-th decision, rewarded at its index
    seq, ev_time = db.execute("SELECT seq, time FROM events WHERE event_id=?", (event_id,)).fetchone()
    first = db.execute("SELECT MIN(seq) FROM events").fetchone()[0]
    assert seq - first == n_learned and time == ev_time == float(n_learned)
    assert writer in {r[0] for r in db.execute("SELECT DISTINCT writer FROM events")}
    assert not set(map(str, rows[0])) & set(users)  # privacy: no user id in the row
    db.close()
    with EventLog(path, readonly=True) as log:
        assert log.drift_events() == [DriftEvent(*rows[0])]


def test_without_a_drop_no_drift_event_is_logged(tmp_path) -> None:
    path = tmp_path / "events.sqlite"
    with VWPolicy(seed=0, log=path) as policy:
        _drive(policy, n=6000, change=10**9)
        assert policy.drift_events == []
    with EventLog(path, readonly=True) as log:
        assert log.drift_events() == [] and len(log) == 6000


def _old_v2_log(path: Path) -> None:
    """A log as artbandit wrote it before the drift table: events/2 without `drift_events`."""
    with VWPolicy(seed=0, log=path) as policy:
        _drive(policy, n=50, change=10**9)
    db = sqlite3.connect(path)
    db.execute("DROP TABLE drift_events")
    db.commit()
    db.close()


def test_a_log_written_before_the_table_opens_and_gains_it(tmp_path) -> None:
    path = tmp_path / "old.sqlite"
    _old_v2_log(path)
    with EventLog(path, readonly=True) as log:  # a reader never changes the file
        assert log.drift_events() == [] and len(log) == 50
    tables = lambda: {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "drift_events" not in tables()
    drift = DriftEvent(7.0, None, "drop", 61.5, 60.0, 0.05, 3000, 1234, "e-1")
    with EventLog(path) as log:  # a writer upgrades it in place
        assert "drift_events" in tables()
        assert sqlite3.connect(path).execute("SELECT value FROM meta WHERE key='schema'").fetchone() == (
            "artbandit.events/2",
        )
        log.append_drift(drift)
        writer = log.writer_id
    with EventLog(path, readonly=True) as log:
        assert len(log) == 50 and log.drift_events() == [DriftEvent(7.0, writer, *list(vars(drift).values())[2:])]


_WRITER = textwrap.dedent("""
    import sys
    sys.path[:0] = [{root!r}]
    from bandit.log.eventlog import DriftEvent, EventLog
    tag = sys.argv[1]
    with EventLog(sys.argv[2], commit_interval_s=0.005) as log:
        print(log.writer_id, flush=True)
        sys.stdin.readline()  # both writers are open: go
        for i in range(300):
            log.append_drift(DriftEvent(float(i), None, "drop", 60.0 + i, 60.0, 0.05, 3000, i, f"{{tag}}-{{i}}"))
            if i % 7 == 0:
                log.flush()
""")


def test_two_processes_writing_drift_events_to_one_log_do_not_collide(tmp_path) -> None:
    path = tmp_path / "shared.sqlite"
    EventLog(path).close()
    script = _WRITER.format(root=str(ROOT))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, tag, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for tag in ("a", "b")
    ]
    writers = {tag: int(p.stdout.readline()) for tag, p in zip("ab", procs)}
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.close()
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    db = sqlite3.connect(path)
    rows = db.execute("SELECT id, writer, event_id, n_learned, statistic FROM drift_events").fetchall()
    assert len(rows) == 600 and len({r[0] for r in rows}) == 600
    by_writer: dict[int, list] = {}
    for _, writer, event_id, n, stat in rows:
        by_writer.setdefault(writer, []).append((event_id, n, stat))
    assert len(by_writer) == 2  # each process's rows carry its own writer id
    for tag, writer in writers.items():
        got = by_writer[writer]
        assert sorted(got, key=lambda r: r[1]) == [(f"{tag}-{i}", i, 60.0 + i) for i in range(300)]
    with EventLog(path, readonly=True) as log:
        assert len(log.drift_events()) == 600


_KILLED = textwrap.dedent("""
    import sqlite3, sys, time
    sys.path[:0] = [{root!r}]
    from bandit import Personalizer
    from tests.bandit.policies.test_drift_hook import _drive
    policy = Personalizer(seed=0, log=sys.argv[1])
    _drive(policy)
    assert len(policy.drift_events) == 1
    other = sqlite3.connect(sys.argv[1])  # another connection sees only what the background thread committed
    for _ in range(3000):
        if other.execute("SELECT COUNT(*) FROM drift_events").fetchone()[0]:
            print("ready", flush=True)
            break
        time.sleep(0.01)
    else:
        sys.exit("the drift event was never committed")
    time.sleep(600)
""")


def test_a_drift_event_survives_sigkill_after_the_commit_interval(tmp_path) -> None:
    path = tmp_path / "killed.sqlite"
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED.format(root=str(ROOT)), str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "ready"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    rows = sqlite3.connect(path).execute("SELECT direction, n_learned FROM drift_events").fetchall()
    assert len(rows) == 1 and rows[0][0] == "drop" and CHANGE <= rows[0][1] <= CHANGE + 1500


def test_evaluate_marks_the_logged_drift_on_its_curves(logged_run, tmp_path) -> None:
    from simulations.ope.evalreport import write_evaluation_report
    from simulations.ope.evaluate import evaluate

    path, detected, _ = logged_run
    result = evaluate(path, tmp_path / "work", ["uniform"], seed=0)
    logged = result["drift"]["logged"]
    # detected while learning event n_learned (clock = event index): n_learned + 1 events logged by then
    assert [(c["event"], c["direction"], c["floor"], c["boost_events"]) for c in logged] == [
        (detected[0] + 1, "drop", 0.05, 3000)
    ]
    assert logged[0]["statistic"] > logged[0]["threshold"] == 60.0
    write_evaluation_report(result, tmp_path / "report.html")  # its curves: a purple line there too
    html = (tmp_path / "report.html").read_text()
    assert f"live policy (logged): event {detected[0] + 1}, drop" in html


def _serve_one(svc, t: int, stream: Stream, actions: list[dict], outcome: np.random.Generator) -> None:
    """Viewer `t` of `_drive`'s world through a decision service: ranked, rewarded at once."""
    _, context, _ = stream.next()
    segment = context["user"]["segment"]
    if t >= CHANGE:
        segment = SEGMENTS[(SEGMENTS.index(segment) + 1) % len(SEGMENTS)]
    d = svc.rank(context, actions, now=float(t))
    index = [a["id"] for a in actions].index(d.action_id)
    svc.reward(d.event_id, float(outcome.random() < click_probabilities(segment)[index]), now=float(t))


def test_the_decision_service_logs_the_drops_its_model_detects(tmp_path) -> None:
    """The service learns through its own path (journal, group commit), not Personalizer.reward: a
    drop its model detects must reach the event log all the same, once, with the service's writer."""
    from bandit.service.decision_service import DecisionService

    stream, actions = Stream(0), make_actions()
    outcome = np.random.default_rng(1)
    with DecisionService(str(tmp_path / "state")) as svc:
        for t in range(N):
            _serve_one(svc, t, stream, actions, outcome)
        detected = list(svc.policy.drift_events)
        writer = svc.log.writer_id
        events_path = svc.state.events_path
    assert len(detected) == 1 and CHANGE <= detected[0] <= CHANGE + 1500
    with EventLog(events_path, readonly=True) as log:
        rows = log.drift_events()
    assert [(r.writer, r.n_learned, r.direction) for r in rows] == [(writer, detected[0], "drop")]
    assert rows[0].floor == 0.05 and rows[0].statistic > rows[0].threshold


def test_a_drop_is_logged_once_even_if_the_service_died_before_writing_it(tmp_path) -> None:
    """The journal is the record; the event log is derived. A service killed after committing the
    journal batch that closed the drop's event, but before its event-log write, rebuilds the drift
    row when recovery re-learns that event, once, and a second restart adds no copy."""
    from bandit.log.schema import DriftEvent as Row
    from bandit.service.decision_service import DecisionService

    state = tmp_path / "state"
    stream, actions = Stream(0), make_actions()
    outcome = np.random.default_rng(1)
    svc = DecisionService(str(state), autocommit=False, id_seed=1)  # seeded ids: a reproducible run
    detected = None
    for t in range(N):
        _serve_one(svc, t, stream, actions, outcome)
        records, joined = svc.take_batch()
        svc.journal.write(records)
        if any(isinstance(row, Row) for row in joined):  # the drop: its journal batch, then death
            detected = list(svc.policy.drift_events)
            break
        svc.write_joined(joined)
    assert detected and CHANGE <= detected[0] <= CHANGE + 1500
    svc.log.close()  # what SIGKILL leaves: the journal committed, no checkpoint, no drift row
    svc.journal.close()
    svc.state.close()
    with EventLog(state / "events.sqlite", readonly=True) as log:
        assert log.drift_events() == []
    for crash_again in (True, False):  # a restart that rebuilds the row and dies too, then one more
        again = DecisionService(str(state))
        assert again.status()["relearned"] == detected[0] + 1 and again.policy.drift_events == detected
        if crash_again:  # no checkpoint: the next restart re-learns the drop again, with its row present
            again.log.close()
            again.journal.close()
            again.state.close()
        else:
            again.close()
        with EventLog(state / "events.sqlite", readonly=True) as log:
            rows = log.drift_events()
        assert [(r.n_learned, r.direction) for r in rows] == [(detected[0], "drop")]


WAIT, DELAY = 120.0, 30.0  # the `delayed` scenario's window and mean click delay


RATE = 20.0  # viewers per simulated second: a window holds 2,400 decisions, more than the warm-up


@pytest.mark.parametrize("make", [Personalizer, VWPolicy], ids=["vw:select", "one model"])
def test_the_delayed_scenario_raises_no_drop_while_the_first_window_fills(make):
    scenario = load_scenario("delayed")
    env = Environment(scenario, seed=0)
    stream = env.generate(12_000)  # 240 simulated seconds: two reward windows
    policy = make(seed=0, reward_wait_s=scenario.reward_wait_s)
    learned_by_rank = []
    rank = policy.rank

    def counting_rank(*args, **kwargs):
        learned_by_rank.append(policy.n_learned)
        return rank(*args, **kwargs)

    policy.rank = counting_rank
    run_policy(env, stream, policy)
    while_traffic = [e for e in policy.drift_events if e <= learned_by_rank[-1]]
    assert learned_by_rank[-1] > 3000
    assert while_traffic == []  # without the clock: [1045] for both, and no change in the audience
    assert WAIT <= policy._watch_from <= WAIT + 5  # the first learned event's window end


def _delayed_drive(policy, rank, reward, expire, n: int, change: int | None, seed: int = 0) -> tuple[int, int]:
    """RATE viewers per simulated second; a click is rewarded after an exponential delay (mean 30 s),
    a non-click never (its window closes with the default reward). From `change` on, every segment
    clicks what the next one liked. Returns `policy.n_learned` at the change (nothing learned until
    then was decided after it) and when traffic stopped."""
    stream, actions = Stream(seed), make_actions()
    rng = np.random.default_rng(seed + 1)
    due: list[tuple[float, str]] = []
    at_change = None
    for i in range(n):
        t = i / RATE
        while due and due[0][0] <= t:
            when, event_id = heapq.heappop(due)
            reward(event_id, 1.0, when)
        _, context, _ = stream.next()
        segment = context["user"]["segment"]
        if i == change:
            at_change = policy.n_learned
        if change is not None and i >= change:
            segment = SEGMENTS[(SEGMENTS.index(segment) + 1) % len(SEGMENTS)]
        event_id, index = rank(context, actions, t)
        delay = rng.exponential(DELAY)
        if rng.random() < click_probabilities(segment)[index] and delay < WAIT:  # later: lost, as live
            heapq.heappush(due, (t + delay, event_id))
    learned = policy.n_learned
    while due:  # traffic has stopped: the last clicks, then the last windows close
        when, event_id = heapq.heappop(due)
        reward(event_id, 1.0, when)
    expire(n / RATE + 2 * WAIT)
    return at_change, learned


@pytest.mark.parametrize("change", [None, 7000], ids=["no change", "change at 7000"])
def test_with_delayed_rewards_only_the_real_change_is_a_drop(change):
    policy = Personalizer(seed=0, reward_wait_s=WAIT)

    def rank(context, actions, now):
        d = policy.rank(context, actions, now=now)
        return d.event_id, d.index

    at_change, learned = _delayed_drive(
        policy,
        rank,
        lambda e, v, now: policy.reward(e, v, now=now),
        lambda now: policy.expire(now=now),
        n=12_000,
        change=change,
    )
    while_traffic = [e for e in policy.drift_events if e <= learned]
    if change is None:
        assert while_traffic == []
    else:
        assert len(while_traffic) == 1 and at_change < while_traffic[0]


def test_the_decision_service_keeps_the_clock_and_its_restart_continues_it(tmp_path):
    svc = DecisionService(tmp_path / "svc", seed=0, id_seed=0)
    svc.set_config(ServiceConfig(reward_wait_s=WAIT))

    def rank(context, actions, now):
        r = svc.rank(context, actions, now=now)
        return r.event_id, [a["id"] for a in actions].index(r.action_id)

    _, learned = _delayed_drive(
        svc.policy, rank, lambda e, v, now: svc.reward(e, v, now=now), lambda now: svc.expire(now), 6000, None
    )
    assert [e for e in svc.policy.drift_events if e <= learned] == [] and svc.policy._watching
    watch_from = svc.policy._watch_from
    assert WAIT <= watch_from <= WAIT + 10  # the first learned event's window end
    svc.close()
    again = DecisionService(tmp_path / "svc", seed=0)
    assert again.policy._watch_from == watch_from and again.policy._watching
    again.close()
