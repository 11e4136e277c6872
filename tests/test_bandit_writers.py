"""Several processes appending to one event log at once: every row is exactly what its process decided."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from bandit import EventLog

TESTS = Path(__file__).parent

_WRITER = """
import json, sys, time
import numpy as np
import bandit
who, path, out, start = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
rng = np.random.default_rng(who)
shared = [{"id": f"s{i}", "features": {"k": float(i)}} for i in range(3)]
own = [{"id": f"p{who}-{i}", "features": {"who": f"w{who}", "i": float(i)}} for i in range(2 + who)]
log = bandit.EventLog(path, batch_size=7)
p = bandit.make_policy("uniform", seed=who, log=log, secret="test-secret-0123456789")
while time.time() < start:
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
    start = time.time() + 2.0
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(w), str(path), str(tmp_path / f"w{w}.jsonl"),
                               str(start)]) for w in range(4)]
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
