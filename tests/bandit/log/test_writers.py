"""Several processes appending to one event log at once: every row is exactly what its process decided."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from bandit import EventLog

_WRITER = """
import json, os, sys, time
import numpy as np
import bandit
who, path, out, gate = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
rng = np.random.default_rng(who)
shared = [{"id": f"s{i}", "features": {"k": float(i)}} for i in range(3)]
own = [{"id": f"p{who}-{i}", "features": {"who": f"w{who}", "i": float(i)}} for i in range(2 + who)]
log = bandit.EventLog(path, batch_size=7)
p = bandit.make_policy("uniform", seed=who, log=log, secret="test-secret-0123456789")
open(f"{gate}.ready{who}", "w").close()  # imported and set up: wait for the others
while not os.path.exists(gate):
    time.sleep(0.001)
with open(out, "w") as fh:
    for t in range(300):
        actions = shared if t % 3 == 0 else own
        context = {"proc": {"who": float(who), "t": float(t), "u": float(rng.random())}}
        d = p.rank(context, actions, user_id=f"user{t % 7}", now=float(t))
        reward = None
        if t % 2:
            reward = float(rng.random())
            p.reward(d.event_id, reward, now=float(t))
        fh.write(json.dumps({"event_id": d.event_id, "actions": actions, "context": context, "index": d.index,
                             "probability": d.probability, "pmf": d.pmf, "reward": reward}) + "\\n")
p.close()
"""


def test_concurrent_writers_log_every_row_as_their_process_decided(tmp_path):
    path = tmp_path / "e.sqlite"
    EventLog(path).close()  # an existing log, as a service's workers would share
    gate = tmp_path / "go"  # a barrier, not a clock: on a loaded machine imports take seconds
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(w), str(path), str(tmp_path / f"w{w}.jsonl"), str(gate)])
        for w in range(4)
    ]
    for _ in range(30_000):
        if all((tmp_path / f"go.ready{w}").exists() for w in range(4)) or any(p.poll() for p in procs):
            break
        time.sleep(0.01)
    gate.touch()
    for proc in procs:
        assert proc.wait(timeout=300) == 0
    expected = {}
    for w in range(4):
        for line in (tmp_path / f"w{w}.jsonl").read_text().splitlines():
            rec = json.loads(line)
            expected[rec["event_id"]] = rec
    assert len(expected) == 1200
    rows = list(EventLog(path, readonly=True).iter_events())
    assert len(rows) == 1200 and {r.event_id for r in rows} == set(expected)
    for row in rows:
        want = expected[row.event_id]
        assert row.action_ids == [a["id"] for a in want["actions"]]
        assert row.action_features == [a["features"] for a in want["actions"]]
        assert row.context == want["context"]
        assert row.chosen_index == want["index"] and row.probability == want["probability"]
        assert row.pmf == want["pmf"]
        assert row.reward == want["reward"]
    # interleaved, not one process after the other
    order = [int(expected[r.event_id]["context"]["proc"]["who"]) for r in rows]
    assert sum(a != b for a, b in zip(order, order[1:])) > 3
    # identical candidate sets are stored once, whoever stored them first
    import sqlite3

    with sqlite3.connect(path) as db:
        sets = [r[0] for r in db.execute("SELECT actions FROM action_sets")]
    assert len(sets) == len(set(sets)) == 1 + 4


def test_a_caller_id_race_between_writers_keeps_the_winner_row_and_its_reward(tmp_path):
    import pytest

    from bandit import make_policy

    path = tmp_path / "e.sqlite"
    a = make_policy("uniform", seed=1, log=EventLog(path, commit_interval_s=1e9), secret="s" * 20)
    b = make_policy("uniform", seed=2, log=EventLog(path, commit_interval_s=1e9), secret="s" * 20)
    actions = [{"id": "x", "features": {"k": 1.0}}, {"id": "y", "features": {"k": 2.0}}]
    # both checked the log before either committed: each accepts the same caller id
    a.rank({"u": {"who": "a"}}, actions, event_id="race", now=0.0)
    b.rank({"u": {"who": "b"}}, actions, event_id="race", now=0.0)
    other = b.rank({"u": {"who": "b2"}}, actions, now=0.0)
    a.flush()
    with pytest.warns(RuntimeWarning, match="'race' not logged"):
        b.flush()
    b.reward("race", 0.5, now=1.0)  # b's own event: learned, but it has no row
    b.reward(other.event_id, 1.0, now=1.0)
    a.reward("race", 0.25, now=1.0)
    a.close()
    b.close()
    assert b.log.duplicates == ["race"]
    rows = {e.event_id: e for e in EventLog(path, readonly=True).iter_events()}
    assert len(rows) == 2
    assert rows["race"].context == {"u": {"who": "a"}} and rows["race"].reward == 0.25  # never b's 0.5
    assert rows[other.event_id].reward == 1.0 and rows[other.event_id].action_ids == ["x", "y"]


def test_a_writer_id_is_never_given_twice_even_after_its_writer_closed(tmp_path):
    """SQLite reuses the largest rowid once its row is deleted; a closed writer's row is deleted, so
    ids come from a counter in `meta` (and, in a log from before it, from every id still visible)."""
    import sqlite3

    path = tmp_path / "e.sqlite"
    seen = []
    for _ in range(3):
        with EventLog(path) as log:
            seen.append(log.writer_id)
    assert seen == [1, 2, 3]
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM writers").fetchone() == (0,)
    # a log written before the counter: the last writer's id survives only in its events
    db = sqlite3.connect(path)
    db.execute("DELETE FROM meta WHERE key='last_writer'")
    db.execute("INSERT INTO action_sets(id, actions) VALUES (1, '[]')")
    db.execute(
        "INSERT INTO events(event_id, time, model_version, policy, context, action_set, pmf, chosen_index,"
        " action_id, probability, writer) VALUES ('e1', 0, 'm', 'p', '{}', 1, '[1]', 0, 'a', 1.0, 7)"
    )
    db.commit()
    db.close()
    with EventLog(path) as log:
        assert log.writer_id == 8
