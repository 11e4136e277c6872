"""artbandit's own CSV, JSONL and Parquet exports read back by replay as the SQLite log they came
from (issue 33): the same events, contexts, times and estimates. The JSONL/CSV bytes are those of the
export before it serialised each candidate set once (only faster), and the Parquet export stores a
candidate set's actions once, so it is several times smaller than the CSV."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict

import numpy as np
import pytest

import bandit.export as export
from bandit import make_policy
from bandit.eventlog import EventLog
from simulations.ope import replay_log, open_log
from simulations.ope.readers import ColumnMapping

SECRET = "test-secret-0123456789"
OWN = ColumnMapping(action_col="action_id", reward_col="reward", propensity_col="probability",
                    candidates_col="action_ids", context_cols=["context"], timestamp_col="time")


def actions(title: int) -> list[dict]:
    return [{"id": f"t{title}/v{j}", "features": {f"f{k}": round(0.01 * (j + 1) * (k + 1), 4) for k in range(20)}}
            for j in range(6)]


@pytest.fixture(scope="module")
def own_log(tmp_path_factory):
    """600 decisions of a uniform logger over 3 titles of 6 variants (20 features each)."""
    path = tmp_path_factory.mktemp("log") / "e.sqlite"
    rng = np.random.default_rng(7)
    with make_policy("uniform", seed=0, log=path, secret=SECRET) as p:
        for t in range(600):
            ctx = {"user": {"seg": f"s{int(rng.integers(4))}", "age": float(rng.integers(18, 80))}}
            d = p.rank(ctx, actions(t % 3), now=float(t), user_id=f"u{t % 50}")
            if t % 7:
                p.reward(d.event_id, float(rng.random() < 0.3), now=float(t) + 0.5)
    return path


def old_jsonl(ev) -> str:
    """The JSONL line as the export wrote it before (dataclasses.asdict of the event)."""
    record = asdict(ev)
    record["context"] = ev.context
    record["pmf"] = ev.pmf
    del record["context_json"], record["pmf_json"]
    record["action_id"] = ev.action_id
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def test_jsonl_and_csv_bytes_are_unchanged_and_each_candidate_set_is_serialised_once(own_log, monkeypatch):
    with EventLog(own_log, readonly=True) as log:
        events = list(log.iter_events())
    out = io.StringIO()
    export.export_events(events, out, "jsonl")
    assert out.getvalue().splitlines() == [old_jsonl(ev) for ev in events]
    out = io.StringIO()
    export.export_events(events, out, "csv")
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == export.CSV_COLUMNS and len(rows) == 601
    dumps = json.dumps
    assert rows[1][export.CSV_COLUMNS.index("action_features")] == dumps(
        events[0].action_features, separators=(",", ":"), ensure_ascii=False)
    # the feature lists are serialised once per candidate set (3 titles), not once per event
    seen: list = []
    real = export._dumps
    monkeypatch.setattr(export, "_dumps", lambda obj: (seen.append(obj), real(obj))[1])
    export.export_events(events, io.StringIO(), "jsonl")
    feature_lists = [o for o in seen if isinstance(o, list) and o and isinstance(o[0], dict)]
    assert len(feature_lists) == 3


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_replay_reads_its_own_export_back_as_the_sqlite_log(own_log, tmp_path, fmt):
    out = tmp_path / f"e.{fmt}"
    with EventLog(own_log, readonly=True) as log:
        assert log.export(out, fmt) == 600
    assert out.stat().st_mode & 0o777 == 0o600
    want = list(open_log(own_log))
    got = list(open_log(out, mapping=OWN))
    assert len(got) == len(want) == 600
    for g, w in zip(got, want):
        assert (g.action_ids, g.chosen_index, g.probability, g.reward, g.time) == \
            (w.action_ids, w.chosen_index, w.probability, w.reward, w.time)
        assert g.context == w.context
    a = replay_log(own_log, ["logged", "uniform", "best-fixed"], ["ips", "snips"])
    b = replay_log(out, ["logged", "uniform", "best-fixed"], ["ips", "snips"], mapping=OWN)
    for pa, pb in zip(a["policies"], b["policies"]):
        for name in ("ips", "snips"):
            ea, eb = pa["estimates"][name], pb["estimates"][name]
            assert ea["value"] == pytest.approx(eb["value"], rel=1e-12)  # summed in other batches
            assert (ea["low"], ea["high"]) == (pytest.approx(eb["low"], rel=1e-12), pytest.approx(eb["high"], rel=1e-12))


def test_parquet_export_is_over_5x_smaller_than_the_csv(own_log, tmp_path):
    with EventLog(own_log, readonly=True) as log:
        log.export(tmp_path / "e.csv", "csv")
        log.export(tmp_path / "e.parquet", "parquet")
    csv_size, pq_size = (tmp_path / "e.csv").stat().st_size, (tmp_path / "e.parquet").stat().st_size
    assert csv_size > 5 * pq_size, (csv_size, pq_size)


def test_parquet_export_needs_a_file(own_log):
    from bandit.errors import BanditError

    with EventLog(own_log, readonly=True) as log, pytest.raises(BanditError, match="needs an output file"):
        log.export(io.StringIO(), "parquet")
