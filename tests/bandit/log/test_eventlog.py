"""The SQLite event store: crash safety, privacy, streaming, exports that VW itself reads.

The event log's writing of propensities, checked against the SQLite file itself and hand-written records.

Written against the mutants mutmut left alive in bandit/log/eventlog.py (docs/testing.md). Rows are appended
directly with known values and read back with plain `sqlite3` (not with EventLog's own reader), so a
swapped column, a wrong pmf text or a missed commit shows up as a different number.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import vowpalwabbit

import bandit
import tests
from bandit import BanditError, EventLog, make_policy
from tests.bandit_helpers import Stream, make_actions

SECRET = "test-secret-0123456789"


ROOT = Path(tests.__file__).resolve().parents[1]  # the checkout, which holds the `tests` package


def _fill(path: Path, n: int = 300, spec: str = "vw", **options) -> list[bandit.Decision]:
    options.setdefault("reward_wait_s", 3600.0)
    policy = make_policy(spec, seed=0, log=path, secret=SECRET, **options)
    stream = Stream(0)
    decisions = []
    for t in range(n):
        user_id, context, click_p = stream.next()
        d = policy.rank(context, make_actions(), user_id=user_id, now=1_700_000_000.0 + t)
        decisions.append(d)
        if t % 4:  # every 4th event never gets a reward
            policy.reward(d.event_id, float(click_p[d.index] > 0.5), now=1_700_000_000.0 + t)
    policy.close()
    return decisions


def test_every_decision_is_logged_exactly_as_made(tmp_path):
    decisions = _fill(tmp_path / "e.sqlite")
    log = EventLog(tmp_path / "e.sqlite", readonly=True)
    assert len(log) == len(decisions)
    events = list(log.iter_events(batch_size=7))  # several batches, order kept
    assert [e.event_id for e in events] == [d.event_id for d in decisions]
    for d, e in zip(decisions, events):
        assert e.pmf == d.pmf and e.chosen_index == d.index and e.probability == d.probability
        assert e.action_ids == [a["id"] for a in make_actions()]
        assert e.action_features == [a["features"] for a in make_actions()]
        assert e.policy == "vw:select" and e.model_version.count(".") == 1  # "vw" is the default
        assert e.user and len(e.user) == 32
    rewarded = [e for i, e in enumerate(events) if i % 4]
    assert all(e.reward in (0.0, 1.0) and e.reward_time is not None for e in rewarded)
    assert all(e.reward is None for i, e in enumerate(events) if i % 4 == 0)
    # the model version counts learned events at decision time
    assert int(events[-1].model_version.split(".")[1]) > int(events[10].model_version.split(".")[1])


def test_iter_outcomes_reads_what_iter_events_reads(tmp_path):
    _fill(tmp_path / "e.sqlite", n=120)
    log = EventLog(tmp_path / "e.sqlite", readonly=True)
    events = list(log.iter_events(batch_size=7))
    outcomes = list(log.iter_outcomes(batch_size=11))  # other batch boundaries, same order
    assert len(outcomes) == len(events) == 120
    for e, (t, ctx, ids, feats, pmf, chosen, p, reward) in zip(events, outcomes):
        assert (t, ctx, pmf, chosen, p, reward) == (
            e.time,
            e.context_json,
            e.pmf_json,
            e.chosen_index,
            e.probability,
            e.reward,
        )
        assert ids == e.action_ids and feats == e.action_features
    assert any(o[7] is None for o in outcomes) and any(o[7] is not None for o in outcomes)


def test_expired_events_are_logged_with_the_default_reward(tmp_path):
    p = make_policy("uniform", log=tmp_path / "e.sqlite", reward_wait_s=2.0, default_reward=0.0)
    d = p.rank({"u": {"x": 1}}, make_actions(), now=0.0)
    p.expire(now=3.0)
    p.close()
    (e,) = EventLog(tmp_path / "e.sqlite", readonly=True).iter_events()
    assert e.event_id == d.event_id and e.reward == 0.0 and e.defaulted and e.reward_time == 2.0


def test_raw_user_ids_never_reach_the_database_file(tmp_path, monkeypatch):
    key_file = tmp_path / "keys" / "secret.key"
    monkeypatch.delenv("ARTBANDIT_SECRET", raising=False)
    monkeypatch.setenv("ARTBANDIT_SECRET_FILE", str(key_file))
    path = tmp_path / "e.sqlite"
    policy = make_policy("vw", log=path)  # key from the key file, created on first use
    stream = Stream(0)
    users = set()
    for t in range(200):
        user_id, context, _ = stream.next()
        users.add(user_id)
        policy.rank(context, make_actions(), user_id=user_id, now=float(t))
    policy.flush()
    blob = b"".join(p.read_bytes() for p in tmp_path.glob("e.sqlite*"))  # db, -wal, -shm
    policy.close()
    blob += path.read_bytes()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_bytes().strip()
    assert key not in blob
    for user in users:
        assert user.encode() not in blob
        assert user.split("@")[0].encode() not in blob
    hashes = {e.user for e in EventLog(path, readonly=True).iter_events()}
    assert len(hashes) == len(users)  # distinct users stay distinct
    # the same secret gives the same hash across processes/policies; another secret does not
    again = make_policy("uniform", log=tmp_path / "f.sqlite")
    again.rank({"u": {"x": 1}}, make_actions(), user_id=sorted(users)[0], now=0.0)
    again.close()
    (e,) = EventLog(tmp_path / "f.sqlite", readonly=True).iter_events()
    assert e.user in hashes
    other = bandit.privacy.UserHasher("another-secret-abcdef")(sorted(users)[0])
    assert other not in hashes


def test_committed_events_survive_sigkill(tmp_path):
    path = tmp_path / "crash.sqlite"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        import bandit
        from tests.bandit_helpers import Stream, make_actions
        log = bandit.EventLog({str(path)!r}, batch_size=50, commit_interval_s=1e9)
        p = bandit.make_policy("vw", log=log, secret={SECRET!r})
        stream = Stream(0)
        last = 0
        for t in range(10**7):
            user_id, context, click_p = stream.next()
            d = p.rank(context, make_actions(), user_id=user_id, now=float(t))
            p.reward(d.event_id, float(click_p[d.index] > 0.5), now=float(t))
            if log.committed != last:
                last = log.committed
                print(last, flush=True)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    seen = 0
    try:
        for line in child.stdout:
            seen = int(line)
            if seen >= 1000:
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL and seen >= 1000
    log = EventLog(path, readonly=True)
    events = list(log.iter_events(batch_size=333))
    assert len(events) >= seen
    assert [e.event_id for e in events] == list(dict.fromkeys(e.event_id for e in events))
    for e in events:
        assert e.probability == e.pmf[e.chosen_index] and len(e.action_ids) == 8
    # a reward is buffered right after its decision: all but the newest committed events have one
    assert all(e.reward is not None for e in events[: seen - 1])


def test_export_formats(tmp_path):
    decisions = _fill(tmp_path / "e.sqlite", n=120)
    log = EventLog(tmp_path / "e.sqlite", readonly=True)
    assert log.export(tmp_path / "e.jsonl", "jsonl") == 120
    rows = [json.loads(line) for line in (tmp_path / "e.jsonl").read_text().splitlines()]
    assert [r["event_id"] for r in rows] == [d.event_id for d in decisions]
    assert rows[1]["pmf"] == decisions[1].pmf and rows[1]["action_id"] == decisions[1].action_id
    assert log.export(tmp_path / "e.csv", "csv") == 120
    with open(tmp_path / "e.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 120 and float(table[5]["probability"]) == decisions[5].probability
    assert json.loads(table[5]["pmf"]) == decisions[5].pmf
    assert table[0]["reward"] == ""  # no reward yet
    with pytest.raises(BanditError, match="unknown export format"):
        log.export(tmp_path / "x", "xml")
    assert not (tmp_path / "x").exists()


def test_dsjson_export_is_read_by_vowpal_wabbit(tmp_path):
    decisions = _fill(tmp_path / "e.sqlite", n=200)
    out = io.StringIO()
    EventLog(tmp_path / "e.sqlite", readonly=True).export(out, "dsjson")
    lines = out.getvalue().splitlines()
    assert len(lines) == 200
    vw = vowpalwabbit.Workspace("--dsjson --cb_explore_adf -q cA --quiet")
    for d, line in zip(decisions, lines):
        record = json.loads(line)
        assert record["EventId"] == d.event_id and record["a"][0] == d.index + 1
        assert record["p"][0] == d.probability
        examples = vw.parse(line)
        assert len(examples) == 1 + len(make_actions())  # shared + one per action
        labels = [ex.get_label() for ex in examples[1:]]
        if "_label_cost" in record:
            costs = labels[d.index].costs
            assert len(costs) == 1 and costs[0].probability == pytest.approx(d.probability, rel=1e-6)
            assert costs[0].cost == record["_label_cost"]
        vw.learn(examples)
        vw.finish_example(examples)


def test_not_a_log_is_a_one_line_error(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(BanditError, match="junk.sqlite: not an artbandit event log"):
        EventLog(junk, readonly=True)
    with pytest.raises(BanditError, match="no such event log"):
        EventLog(tmp_path / "missing.sqlite", readonly=True)
    other = tmp_path / "other.sqlite"
    import sqlite3

    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t(x)")
    before = other.read_bytes()
    with pytest.raises(BanditError, match="not an artbandit event log"):
        EventLog(other, readonly=True)
    assert other.read_bytes() == before  # a reader leaves foreign files untouched


def test_a_caller_event_id_already_in_the_log_is_refused_at_rank(tmp_path):
    path = tmp_path / "e.sqlite"
    a = make_policy("uniform", seed=1, log=path)
    a.rank({"u": {"x": 1}}, make_actions(), event_id="same", now=0.0)
    a.close()
    b = make_policy("uniform", seed=1, log=path)
    first = b.rank({"u": {"x": 1}}, make_actions(), now=0.0)
    with pytest.raises(BanditError, match="event id 'same' was already used"):
        b.rank({"u": {"x": 1}}, make_actions(), event_id="same", now=0.0)
    b.rank({"u": {"x": 1}}, make_actions(), event_id="new", now=0.0)
    with pytest.raises(BanditError, match="event id 'new' was already used"):  # buffered, not committed
        b.rank({"u": {"x": 1}}, make_actions(), event_id="new", now=0.0)
    b.reward(first.event_id, 1.0, now=1.0)
    b.close()  # nothing left to fail later
    events = {e.event_id: e for e in EventLog(path, readonly=True).iter_events()}
    assert len(events) == 3 and events["same"].reward is None  # the earlier run's row is untouched
    assert events[first.event_id].reward == 1.0


def test_event_ids_are_random_unless_seeded_and_never_reuse_a_logged_id(tmp_path):
    path = tmp_path / "e.sqlite"
    ids = []
    for _ in range(3):  # the same service restarted twice, appending to its log
        p = make_policy("vw", seed=0, log=path, secret=SECRET)
        ids += [p.rank({"u": {"x": 1}}, make_actions(), now=0.0).event_id for _ in range(20)]
        p.close()
    assert len(set(ids)) == 60 and len(EventLog(path, readonly=True)) == 60
    # a model saved earlier and reloaded after more events were logged does not reuse their ids
    p = make_policy("vw", seed=5, log=tmp_path / "g.sqlite", secret=SECRET)
    p.save(tmp_path / "model")
    later = [p.rank({"u": {"x": 1}}, make_actions(), now=0.0).event_id for _ in range(10)]
    p.close()
    q = bandit.load_saved_policy(tmp_path / "model", log=tmp_path / "g.sqlite", secret=SECRET)
    again = [q.rank({"u": {"x": 1}}, make_actions(), now=0.0).event_id for _ in range(10)]
    q.close()
    assert not set(later) & set(again)
    # ids seeded explicitly are deterministic on a fresh log, and skip ids an earlier run logged
    seeded = []
    for _ in range(2):
        s = make_policy("vw", seed=0, id_seed=11, log=tmp_path / "s.sqlite", secret=SECRET)
        seeded.append([s.rank({"u": {"x": 1}}, make_actions(), now=0.0).event_id for _ in range(5)])
        s.close()
    fresh = make_policy("vw", seed=0, id_seed=11, secret=SECRET)
    assert [fresh.rank({"u": {"x": 1}}, make_actions(), now=0.0).event_id for _ in range(5)] == seeded[0]
    assert not set(seeded[0]) & set(seeded[1])
    assert len(EventLog(tmp_path / "s.sqlite", readonly=True)) == 10


def test_context_allowlist_keeps_other_namespaces_out_of_the_log(tmp_path):
    path = tmp_path / "e.sqlite"
    p = make_policy("vw", log=path, secret=SECRET, context_allowlist=["user"])
    d = p.rank({"user": {"device": "tv"}, "pii": {"email=someone@example.org": 1.0}}, make_actions(), now=0.0)
    p.reward(d.event_id, 1.0, now=0.0)
    p.close()
    blob = b"".join(f.read_bytes() for f in tmp_path.glob("e.sqlite*"))
    assert b"someone@example.org" not in blob and b"pii" not in blob
    (e,) = EventLog(path, readonly=True).iter_events()
    assert e.context == {"user": {"device": "tv"}}


def test_jsontext_decodes_like_the_standard_library():
    from bandit.log import jsontext

    docs = [
        '{"user":{"country":"US","h":0.1234567890123,"n":3},"t":{"g":"drama"}}',
        "[0.1,0.2,0.7]",
        '{"a":"\\u00e9\\n","b":[true,false,null],"c":-1.5e-07}',
        '{"x": NaN, "y": Infinity}',
    ]  # orjson refuses the last: the standard library's turn
    for doc in docs:
        got, want = jsontext.loads(doc), json.loads(doc)
        assert json.dumps(got) == json.dumps(want) and type(got) is type(want)
    # the documented difference: an integer over 64 bits comes back as the float VW would read
    assert jsontext.loads('{"big": 123456789012345678901234567890}') == {"big": 1.2345678901234568e29}
    with pytest.raises(json.JSONDecodeError):
        jsontext.loads('{"a": 1,}')


def test_logged_rows_match_an_independent_recomputation_from_the_inputs(tmp_path):
    """pmf = the floored VW pmf predicted for the inputs, index = the inverse-CDF draw of a
    generator seeded like the policy, probability = pmf[index]: recomputed, not read off the Decision."""
    import numpy as np

    from bandit.sampling import floor_for, sample_index

    path = tmp_path / "e.sqlite"
    p = make_policy("vw", seed=9, log=path, secret=SECRET, reward_wait_s=1e6)
    twin = make_policy("vw", seed=9, secret=SECRET)  # learns the same rewards, never ranks
    draws = np.random.default_rng(9)
    stream = Stream(9)
    expected = []
    for t in range(60):
        _, context, click_p = stream.next()
        pmf = twin.predict(context, make_actions()).tolist()
        index = sample_index(pmf, draws.random())
        d = p.rank(context, make_actions(), now=float(t))
        reward = float(click_p[index] > 0.5)
        p.reward(d.event_id, reward, now=float(t))
        # learn() keeps 1/p weights (a log's actions); squarecb's own decisions learn with weight 1
        twin.learn(
            context, make_actions(), index, reward, 1.0 if not p.options.get("importance_weighted") else pmf[index]
        )
        expected.append((context, pmf, index, reward))
    p.close()
    rows = list(EventLog(path, readonly=True).iter_events())
    assert len(rows) == 60
    for row, (context, pmf, index, reward) in zip(rows, expected):
        assert row.context == context and row.pmf == pytest.approx(pmf, abs=1e-12)
        assert row.chosen_index == index and row.probability == pytest.approx(pmf[index], abs=1e-12)
        # the floor: 1% per variant up to the exploration budget's share of the decision (5% / 8)
        assert row.reward == reward and min(row.pmf) >= floor_for(8, 0.01, p.exploration_budget) - 1e-12


def _killed_writer(path: Path, n: int, log_args: str) -> int:
    """A process that ranks and rewards `n` decisions with its committing thread starved (as on a
    loaded machine: it never gets to run) and then SIGKILLs itself; returns the rows that survived."""
    script = textwrap.dedent(f"""
        import os, signal
        import bandit, bandit.log.eventlog
        bandit.log.eventlog._flush_loop = lambda *a: None   # the background committer never runs
        log = bandit.EventLog({str(path)!r}{log_args})
        p = bandit.make_policy("uniform", log=log, secret={SECRET!r})
        actions = [{{"id": "a"}}, {{"id": "b"}}]
        for t in range({n}):
            d = p.rank({{"u": {{"x": float(t)}}}}, actions, now=0.0)
            p.reward(d.event_id, 1.0, now=0.0)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == -signal.SIGKILL, run.stderr
    return len(EventLog(path, readonly=True))


def test_sigkill_loses_at_most_max_uncommitted_rows(tmp_path):
    # count-based, not wall-clock: with no time bound, the writing call commits whenever 100 rows are
    # waiting. A reward for a buffered decision fills its row in place (no new row), but decision 100
    # is committed by its own rank, so its reward is one waiting row: the second commit comes with
    # decision 199 (99 decisions + that reward). 250 decisions -> 199 survive the kill, 51 are lost.
    assert _killed_writer(tmp_path / "a.sqlite", 250, ", max_uncommitted=100, max_delay_s=1e9") == 199
    # the defaults: 3,000 decisions with a starved committer lost all 3,000 before (the writing call
    # only stepped in at 8 x 512 rows); now at most DEFAULT_MAX_UNCOMMITTED (1,024) are lost
    kept = _killed_writer(tmp_path / "b.sqlite", 3000, "")
    assert 3000 - kept <= bandit.log.eventlog.DEFAULT_MAX_UNCOMMITTED


def test_rows_older_than_max_delay_are_committed_by_the_writing_call(tmp_path, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(bandit.log.eventlog, "_monotonic", lambda: clock[0])
    path = tmp_path / "t.sqlite"
    log = EventLog(path, commit_interval_s=1e9, max_uncommitted=10**6, max_delay_s=0.5)
    p = make_policy("uniform", log=log, secret=SECRET)
    actions = [{"id": "a"}, {"id": "b"}]

    def committed() -> int:
        return len(EventLog(path, readonly=True))

    for _ in range(3):
        p.rank({"u": {"x": 1.0}}, actions, now=0.0)  # buffered at 100.0
    clock[0] = 100.49
    p.rank({"u": {"x": 1.0}}, actions, now=0.0)
    assert committed() == 0
    clock[0] = 100.5  # the oldest row is max_delay_s old: this call commits all five
    p.rank({"u": {"x": 1.0}}, actions, now=0.0)
    assert committed() == 5
    clock[0] = 100.9  # the clock restarts with the next buffered row
    p.rank({"u": {"x": 1.0}}, actions, now=0.0)
    assert committed() == 5
    p.close()
    assert committed() == 6
    for bad in ({"max_uncommitted": 0}, {"max_uncommitted": 1.5}, {"max_delay_s": 0}, {"batch_size": "x"}):
        with pytest.raises(BanditError, match=next(iter(bad))):
            EventLog(tmp_path / "x.sqlite", **bad)
    with pytest.raises(BanditError, match="an event log is a path"):
        EventLog(123)


ACTIONS = ('{"id":"a","features":{"kind":"face"}}', '{"id":"b","features":{"brightness":0.5}}')


PMF = [0.1, 0.7000000000000001, 0.2]  # repr must round-trip the last digit


def append(
    log: EventLog,
    event_id: str,
    *,
    key=("a", "b"),
    actions=ACTIONS,
    pmf=(0.25, 0.75),
    index=1,
    probability=0.75,
    time=1_700_000_000.5,
    user="u-hash",
) -> None:
    log.append(
        event_id,
        time,
        "m.3",
        "vw --cb_explore_adf",
        user,
        '{"user":{"device":"tv"}}',
        key,
        list(actions),
        list(pmf),
        index,
        ["a", "b", "c"][index],
        probability,
    )


def raw_rows(path) -> list[tuple]:
    """The events table as SQLite stores it (another connection: only committed rows)."""
    db = sqlite3.connect(str(path))
    try:
        return db.execute(
            "SELECT event_id, time, model_version, policy, user, context, action_set, pmf, chosen_index,"
            " action_id, probability, reward, reward_time, defaulted FROM events ORDER BY seq"
        ).fetchall()
    finally:
        db.close()


def raw_sets(path) -> list[tuple]:
    db = sqlite3.connect(str(path))
    try:
        return db.execute("SELECT id, actions FROM action_sets ORDER BY id").fetchall()
    finally:
        db.close()


def test_a_decision_is_stored_column_by_column(tmp_path):
    path = tmp_path / "events.db"
    with EventLog(path) as log:
        log.append(
            "e1",
            1_700_000_000.5,
            "m.3",
            "vw --cb_explore_adf",
            "u-hash",
            '{"user":{"device":"tv"}}',
            ("a", "b", "c"),
            [*ACTIONS, '{"id":"c","features":{}}'],
            PMF,
            1,
            "b",
            0.7000000000000001,
        )
    (row,) = raw_rows(path)
    assert row == (
        "e1",
        1_700_000_000.5,
        "m.3",
        "vw --cb_explore_adf",
        "u-hash",
        '{"user":{"device":"tv"}}',
        1,
        "[0.1,0.7000000000000001,0.2]",
        1,
        "b",
        0.7000000000000001,
        None,
        None,
        0,
    )
    assert raw_sets(path) == [(1, "[" + ",".join([*ACTIONS, '{"id":"c","features":{}}']) + "]")]


@pytest.mark.parametrize("dtype", ["float32", "float64", "longdouble"])  # longdouble: orjson refuses it
def test_numpy_pmf_is_written_as_plain_floats(tmp_path, dtype):
    path = tmp_path / "events.db"
    with EventLog(path) as log:
        append(log, "e1", pmf=np.array([0.25, 0.75], dtype=dtype))
    assert raw_rows(path)[0][7] == "[0.25,0.75]"


def test_candidate_sets_are_stored_once_per_key(tmp_path):
    path = tmp_path / "events.db"
    with EventLog(path) as log:
        append(log, "e1")
        append(log, "e2")
        append(log, "e3", key=("b", "a"), actions=ACTIONS[::-1])
        append(log, "e4")
    assert [r[6] for r in raw_rows(path)] == [1, 1, 2, 1]
    assert raw_sets(path) == [(1, "[" + ",".join(ACTIONS) + "]"), (2, "[" + ",".join(ACTIONS[::-1]) + "]")]
    # a second writer continues the numbering after the sets already in the file
    with EventLog(path) as log:
        append(log, "e5", key=("a",), actions=ACTIONS[:1], pmf=[1.0], index=0, probability=1.0)
    assert raw_rows(path)[-1][6] == 3 and raw_sets(path)[-1] == (3, "[" + ACTIONS[0] + "]")


def test_flush_commits_decisions_and_rewards_buffered_before_it(tmp_path):
    path = tmp_path / "events.db"
    log = EventLog(path, batch_size=1000, commit_interval_s=3600)
    append(log, "e1")
    append(log, "e2")
    log.set_reward("e2", 0.0, 6.0, defaulted=True)  # before e2's row is committed
    log.flush()
    assert [r[0] for r in raw_rows(path)] == ["e1", "e2"]
    log.set_reward("e1", 1.0, 5.0)  # after e1's row is committed
    log.flush()
    assert [r[11:] for r in raw_rows(path)] == [(1.0, 5.0, 0), (0.0, 6.0, 1)]
    log.close()


def test_flush_with_nothing_buffered_writes_nothing(tmp_path):
    path = tmp_path / "events.db"
    log = EventLog(path)
    log.flush()
    assert raw_rows(path) == [] and log.committed == 0
    append(log, "e1")
    log.flush()
    log.flush()
    assert len(raw_rows(path)) == 1 and log.committed == 1
    log.close()


def test_a_duplicate_id_is_dropped_and_every_other_row_kept(tmp_path):
    path = tmp_path / "events.db"
    log = EventLog(path, batch_size=100, commit_interval_s=3600)
    append(log, "e1")
    log.flush()
    append(log, "e2", key=("c",), actions=['{"id":"c","features":{}}'], pmf=[1.0], index=0, probability=1.0)
    append(log, "e1", probability=0.5)
    append(log, "e3")
    with pytest.warns(RuntimeWarning, match="event 'e1' not logged: another writer logged that event id first"):
        log.flush()
    rows = raw_rows(path)
    assert [(r[0], r[6], r[10]) for r in rows] == [("e1", 1, 0.75), ("e2", 2, 1.0), ("e3", 1, 0.75)]
    assert raw_sets(path)[-1] == (2, '[{"id":"c","features":{}}]')
    log.close()
    assert len(raw_rows(path)) == 3


def test_reading_back_pages_through_every_event_in_order(tmp_path):
    path = tmp_path / "events.db"
    with EventLog(path) as log:
        for i in range(5):
            q = [0.5, 0.625, 0.75, 0.875, 1.0][i]  # exact binary fractions
            append(
                log,
                f"e{i}",
                key=(i % 2,),
                pmf=(1.0 - q, q),
                probability=q,
                time=10.0 + i,
                user=None if i == 2 else f"u{i}",
            )
        log.set_reward("e3", 1.0, 20.0, defaulted=True)
    log = EventLog(path, readonly=True)
    events = list(log.iter_events(batch_size=2))
    assert [e.event_id for e in events] == ["e0", "e1", "e2", "e3", "e4"]
    e = events[3]
    assert (e.time, e.model_version, e.policy, e.user, e.context) == (
        13.0,
        "m.3",
        "vw --cb_explore_adf",
        "u3",
        {"user": {"device": "tv"}},
    )
    assert (e.pmf, e.chosen_index, e.action_id, e.probability) == ([0.125, 0.875], 1, "b", 0.875)
    assert (e.reward, e.reward_time, e.defaulted) == (1.0, 20.0, True)
    assert e.action_ids == ["a", "b"] and e.action_features == [{"kind": "face"}, {"brightness": 0.5}]
    assert events[2].user is None and events[0].defaulted is False and events[0].reward is None
    outcomes = list(log.iter_outcomes(batch_size=3))
    assert [o[0] for o in outcomes] == [10.0, 11.0, 12.0, 13.0, 14.0]
    assert outcomes[3][4:] == ("[0.125,0.875]", 1, 0.875, 1.0)
    assert outcomes[3][2:4] == (["a", "b"], [{"kind": "face"}, {"brightness": 0.5}])


def test_a_missing_action_set_is_a_one_line_error(tmp_path):
    path = tmp_path / "events.db"
    with EventLog(path) as log:
        append(log, "e1")
    db = sqlite3.connect(str(path))
    db.execute("DELETE FROM action_sets")
    db.commit()
    db.close()
    with pytest.raises(BanditError, match=f"^{path}: event refers to missing action set 1$"):
        list(EventLog(path, readonly=True).iter_events())


def one_event_log(tmp_path, reward):
    path = tmp_path / "events.db"
    with EventLog(path) as log:
        log.append(
            "ev-1",
            1_700_000_000.0,
            "m.7",
            "vw",
            "h1",
            '{"user":{"device":"tv","age":30}}',
            ("k",),
            [*ACTIONS, '{"id":"c","features":{"x":null}}'],
            [0.2, 0.3, 0.5],
            1,
            "b",
            0.3,
        )
        if reward is not None:
            log.set_reward("ev-1", reward, 1_700_000_005.0)
    return EventLog(path, readonly=True)


def test_dsjson_record_by_hand(tmp_path):
    out = io.StringIO()
    assert one_event_log(tmp_path, 1.0).export(out, "dsjson") == 1
    record = json.loads(out.getvalue())
    assert record == {
        "_label_cost": -1.0,
        "_label_probability": 0.3,
        "_label_Action": 2,
        "_labelIndex": 1,
        "Timestamp": "2023-11-14T22:13:20Z",
        "Version": "1",
        "EventId": "ev-1",
        # chosen action first, then by decreasing probability
        "a": [2, 3, 1],
        "p": [0.3, 0.5, 0.2],
        "c": {
            "c_user": {"device=tv": 1, "age": 30.0},
            "_multi": [{"A": {"id=a": 1, "kind=face": 1}}, {"A": {"id=b": 1, "brightness": 0.5}}, {"A": {"id=c": 1}}],
        },
        "VWState": {"m": "m.7"},
        "o": [{"v": 1.0, "EventId": "ev-1", "ActionTaken": False}],
    }


def test_dsjson_without_reward_has_no_label(tmp_path):
    out = io.StringIO()
    one_event_log(tmp_path, None).export(out, "dsjson")
    record = json.loads(out.getvalue())
    assert not {"_label_cost", "_label_probability", "_label_Action", "_labelIndex", "o"} & set(record)
    assert record["a"] == [2, 3, 1]


def test_csv_and_jsonl_records_by_hand(tmp_path):
    log = one_event_log(tmp_path, 0.0)
    out = io.StringIO()
    assert log.export(out, "csv") == 1
    header, row = list(csv.reader(io.StringIO(out.getvalue())))
    assert dict(zip(header, row)) == {
        "event_id": "ev-1",
        "time": "1700000000.0",
        "model_version": "m.7",
        "policy": "vw",
        "user": "h1",
        "chosen_index": "1",
        "action_id": "b",
        "probability": "0.3",
        "reward": "0.0",
        "reward_time": "1700000005.0",
        "defaulted": "0",
        "action_ids": '["a","b","c"]',
        "pmf": "[0.2,0.3,0.5]",
        "context": '{"user":{"device":"tv","age":30}}',
        "action_features": '[{"kind":"face"},{"brightness":0.5},{"x":null}]',
    }
    out = io.StringIO()
    assert log.export(out, "jsonl") == 1
    assert json.loads(out.getvalue()) == {
        "event_id": "ev-1",
        "time": 1_700_000_000.0,
        "model_version": "m.7",
        "policy": "vw",
        "context": {"user": {"device": "tv", "age": 30}},
        "action_ids": ["a", "b", "c"],
        "action_features": [{"kind": "face"}, {"brightness": 0.5}, {"x": None}],
        "pmf": [0.2, 0.3, 0.5],
        "chosen_index": 1,
        "action_id": "b",
        "probability": 0.3,
        "reward": 0.0,
        "reward_time": 1_700_000_005.0,
        "user": "h1",
        "defaulted": False,
    }


def test_a_writer_reads_back_what_it_has_not_committed_yet(tmp_path):
    path = tmp_path / "events.db"
    log = EventLog(path, batch_size=1000, commit_interval_s=3600)
    append(log, "e1")
    assert [e.event_id for e in log.iter_events()] == ["e1"]
    log.close()


def test_a_second_writer_reuses_the_stored_candidate_set(tmp_path):
    path = tmp_path / "events.db"
    with EventLog(path) as log:
        append(log, "e1")
    with EventLog(path) as log:  # a new writer: its own cache is empty, the file already has the set
        append(log, "e2")
    assert [r[6] for r in raw_rows(path)] == [1, 1]
    assert raw_sets(path) == [(1, "[" + ",".join(ACTIONS) + "]")]


def test_committed_counts_every_batch_but_not_dropped_duplicates(tmp_path):
    path = tmp_path / "events.db"
    log = EventLog(path, batch_size=100, commit_interval_s=3600)
    append(log, "e1")
    log.flush()
    append(log, "e2")
    append(log, "e1")
    append(log, "e3")
    with pytest.warns(RuntimeWarning):
        log.flush()
    assert log.committed == 3 and log.duplicates == ["e1"]
    log.close()


def test_two_duplicates_in_one_batch_are_both_left_out_of_the_count(tmp_path):
    path = tmp_path / "events.db"
    log = EventLog(path, batch_size=100, commit_interval_s=3600)
    append(log, "e1")
    append(log, "e2")
    log.flush()
    for event_id in ("e1", "e2", "e3"):
        append(log, event_id)
    with pytest.warns(RuntimeWarning):
        log.flush()
    assert log.committed == 3 and log.duplicates == ["e1", "e2"]
    log.close()
    assert [r[0] for r in raw_rows(path)] == ["e1", "e2", "e3"]
