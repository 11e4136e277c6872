"""The event log's writing of propensities, checked against the SQLite file itself and hand-written records.

Written against the mutants mutmut left alive in bandit/log/eventlog.py (docs/testing.md). Rows are appended
directly with known values and read back with plain `sqlite3` (not with EventLog's own reader), so a
swapped column, a wrong pmf text or a missed commit shows up as a different number.
"""
from __future__ import annotations

import csv
import io
import json
import sqlite3

import numpy as np
import pytest

from bandit import BanditError, EventLog

ACTIONS = ('{"id":"a","features":{"kind":"face"}}', '{"id":"b","features":{"brightness":0.5}}')
PMF = [0.1, 0.7000000000000001, 0.2]  # repr must round-trip the last digit


def append(log: EventLog, event_id: str, *, key=("a", "b"), actions=ACTIONS, pmf=(0.25, 0.75), index=1,
           probability=0.75, time=1_700_000_000.5, user="u-hash") -> None:
    log.append(event_id, time, "m.3", "vw --cb_explore_adf", user, '{"user":{"device":"tv"}}', key,
               list(actions), list(pmf), index, ["a", "b", "c"][index], probability)


def raw_rows(path) -> list[tuple]:
    """The events table as SQLite stores it (another connection: only committed rows)."""
    db = sqlite3.connect(str(path))
    try:
        return db.execute(
            "SELECT event_id, time, model_version, policy, user, context, action_set, pmf, chosen_index,"
            " action_id, probability, reward, reward_time, defaulted FROM events ORDER BY seq").fetchall()
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
        log.append("e1", 1_700_000_000.5, "m.3", "vw --cb_explore_adf", "u-hash", '{"user":{"device":"tv"}}',
                   ("a", "b", "c"), [*ACTIONS, '{"id":"c","features":{}}'], PMF, 1, "b", 0.7000000000000001)
    (row,) = raw_rows(path)
    assert row == ("e1", 1_700_000_000.5, "m.3", "vw --cb_explore_adf", "u-hash", '{"user":{"device":"tv"}}', 1,
                   "[0.1,0.7000000000000001,0.2]", 1, "b", 0.7000000000000001, None, None, 0)
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
            append(log, f"e{i}", key=(i % 2,), pmf=(1.0 - q, q), probability=q,
                   time=10.0 + i, user=None if i == 2 else f"u{i}")
        log.set_reward("e3", 1.0, 20.0, defaulted=True)
    log = EventLog(path, readonly=True)
    events = list(log.iter_events(batch_size=2))
    assert [e.event_id for e in events] == ["e0", "e1", "e2", "e3", "e4"]
    e = events[3]
    assert (e.time, e.model_version, e.policy, e.user, e.context) == (13.0, "m.3", "vw --cb_explore_adf", "u3",
                                                                      {"user": {"device": "tv"}})
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
        log.append("ev-1", 1_700_000_000.0, "m.7", "vw", "h1", '{"user":{"device":"tv","age":30}}', ("k",),
                   [*ACTIONS, '{"id":"c","features":{"x":null}}'], [0.2, 0.3, 0.5], 1, "b", 0.3)
        if reward is not None:
            log.set_reward("ev-1", reward, 1_700_000_005.0)
    return EventLog(path, readonly=True)


def test_dsjson_record_by_hand(tmp_path):
    out = io.StringIO()
    assert one_event_log(tmp_path, 1.0).export(out, "dsjson") == 1
    record = json.loads(out.getvalue())
    assert record == {
        "_label_cost": -1.0, "_label_probability": 0.3, "_label_Action": 2, "_labelIndex": 1,
        "Timestamp": "2023-11-14T22:13:20Z", "Version": "1", "EventId": "ev-1",
        # chosen action first, then by decreasing probability
        "a": [2, 3, 1], "p": [0.3, 0.5, 0.2],
        "c": {"c_user": {"device=tv": 1, "age": 30.0},
              "_multi": [{"A": {"id=a": 1, "kind=face": 1}}, {"A": {"id=b": 1, "brightness": 0.5}},
                         {"A": {"id=c": 1}}]},
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
        "event_id": "ev-1", "time": "1700000000.0", "model_version": "m.7", "policy": "vw", "user": "h1",
        "chosen_index": "1", "action_id": "b", "probability": "0.3", "reward": "0.0",
        "reward_time": "1700000005.0", "defaulted": "0", "action_ids": '["a","b","c"]', "pmf": "[0.2,0.3,0.5]",
        "context": '{"user":{"device":"tv","age":30}}',
        "action_features": '[{"kind":"face"},{"brightness":0.5},{"x":null}]',
    }
    out = io.StringIO()
    assert log.export(out, "jsonl") == 1
    assert json.loads(out.getvalue()) == {
        "event_id": "ev-1", "time": 1_700_000_000.0, "model_version": "m.7", "policy": "vw",
        "context": {"user": {"device": "tv", "age": 30}}, "action_ids": ["a", "b", "c"],
        "action_features": [{"kind": "face"}, {"brightness": 0.5}, {"x": None}], "pmf": [0.2, 0.3, 0.5],
        "chosen_index": 1, "action_id": "b", "probability": 0.3, "reward": 0.0, "reward_time": 1_700_000_005.0,
        "user": "h1", "defaulted": False,
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
