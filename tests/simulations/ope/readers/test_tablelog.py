"""artbandit's own CSV, JSONL and Parquet exports read back by replay as the SQLite log they came
from (issue 33): the same events, contexts, times and estimates. The JSONL/CSV bytes are those of the
export before it serialised each candidate set once (only faster), and the Parquet export stores a
candidate set's actions once, so it is several times smaller than the CSV.

Logs in the Open Bandit Dataset's layout (a pandas index column, a timestamp, item_id, position, click,
propensity_score, user_feature_*, user-item_affinity_*) read with only the three named columns, and
values no decision log holds (a propensity of 1e-300, a reward of 1e308, a timestamp 'yesterday')
refused with one line by replay and evaluate alike (issues 33 and 27).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict

import numpy as np
import pytest

import bandit.log.export as export
from bandit import make_policy
from bandit.log.eventlog import EventLog
from simulations.ope import OPEError, open_log, replay_log
from simulations.ope.readers import ColumnMapping
from simulations.ope.readers.cells import column_groups

SECRET = "test-secret-0123456789"
OWN = ColumnMapping(
    action_col="action_id",
    reward_col="reward",
    propensity_col="probability",
    candidates_col="action_ids",
    context_cols=["context"],
    timestamp_col="time",
)


def actions(title: int) -> list[dict]:
    return [
        {"id": f"t{title}/v{j}", "features": {f"f{k}": round(0.01 * (j + 1) * (k + 1), 4) for k in range(20)}}
        for j in range(6)
    ]


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
        events[0].action_features, separators=(",", ":"), ensure_ascii=False
    )
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
        assert (g.action_ids, g.chosen_index, g.probability, g.reward, g.time) == (
            w.action_ids,
            w.chosen_index,
            w.probability,
            w.reward,
            w.time,
        )
        assert g.context == w.context
    a = replay_log(own_log, ["logged", "uniform", "best-fixed"], ["ips", "snips"])
    b = replay_log(out, ["logged", "uniform", "best-fixed"], ["ips", "snips"], mapping=OWN)
    for pa, pb in zip(a["policies"], b["policies"]):
        for name in ("ips", "snips"):
            ea, eb = pa["estimates"][name], pb["estimates"][name]
            assert ea["value"] == pytest.approx(eb["value"], rel=1e-12)  # summed in other batches
            assert (ea["low"], ea["high"]) == (
                pytest.approx(eb["low"], rel=1e-12),
                pytest.approx(eb["high"], rel=1e-12),
            )


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


OBD = ColumnMapping(action_col="item_id", reward_col="click", propensity_col="propensity_score")
OBD_FLAGS = ("--action-col", "item_id", "--reward-col", "click", "--propensity-col", "propensity_score")


def obd_csv(path, n: int = 300, items: int = 10, seed: int = 0):
    """n rows in OBD's layout (what pandas' to_csv writes: an unnamed index column first); a uniform
    logger over `items` items at 3 positions; click 1 w.p. 0.05 + 0.03 * item / items."""
    rng = np.random.default_rng(seed)
    header = ["", "timestamp", "item_id", "position", "click", "propensity_score"]
    header += [f"user_feature_{j}" for j in range(4)] + [f"user-item_affinity_{j}" for j in range(items)]
    lines = [",".join(header)]
    for i in range(n):
        item = int(rng.integers(items))
        click = int(rng.random() < 0.05 + 0.03 * item / items)
        feats = [f"{rng.integers(1 << 60):x}" for _ in range(4)]
        aff = [f"{x:.1f}" for x in rng.integers(0, 3, items)]
        lines.append(
            ",".join(
                [
                    str(i),
                    f"2019-11-24 00:{i // 60 % 60:02d}:{i % 60:02d}.5+00:00",
                    str(item),
                    str(i % 3 + 1),
                    str(click),
                    str(1 / items),
                    *feats,
                    *aff,
                ]
            )
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def test_obd_layout_reads_with_three_flags_index_and_time_left_out_and_said(tmp_path):
    path = obd_csv(tmp_path / "all.csv")
    src = open_log(path, mapping=OBD)
    events = [ev for chunk in src.chunks() for ev in chunk]
    assert len(events) == 300
    ctx = events[0].context["context"]
    # the features are the user and affinity columns and the position; not the index, not the time
    assert set(ctx) == {
        "position",
        *(f"user_feature_{j}" for j in range(4)),
        *(f"user-item_affinity_{j}" for j in range(10)),
    }
    assert isinstance(ctx["user_feature_0"], str) and isinstance(ctx["user-item_affinity_0"], float)
    note = next(n for n in src.notes if n.startswith("context columns"))
    assert note == (
        "context columns: position, user_feature (4), user-item_affinity (10); not used as context: "
        "the unnamed first column (a row index), 'timestamp' (pass --timestamp-col timestamp to order "
        "events by it) (--context-cols chooses others)"
    )


def test_obd_layout_replay_and_evaluate_cli_need_only_the_three_columns(tmp_path, console):
    path = obd_csv(tmp_path / "all.csv")
    proc = console(
        "replay",
        path,
        *OBD_FLAGS,
        "--policy",
        "uniform",
        "--policy",
        "linucb",
        "--estimator",
        "snips",
        "-o",
        tmp_path / "rep",
        "-q",
    )
    assert proc.returncode == 0, proc.stderr
    assert "internal error" not in proc.stderr
    result = json.loads((tmp_path / "rep" / "replay.json").read_text())
    assert result["log"]["events"] == 300
    # the three slots: position-aware weights, and 'position' is no longer a context column
    proc = console(
        "replay",
        path,
        *OBD_FLAGS,
        "--position-col",
        "position",
        "--policy",
        "linucb",
        "--policy",
        "best-fixed",
        "--estimator",
        "ips",
        "-o",
        tmp_path / "slots",
        "-q",
    )
    assert proc.returncode == 0, proc.stderr
    notes = json.loads((tmp_path / "slots" / "replay.json").read_text())["log"]["notes"]
    assert any(n.startswith("slots from column 'position'") for n in notes)
    assert any(n.startswith("context columns: user_feature (4), user-item_affinity (10);") for n in notes)
    proc = console("evaluate", path, *OBD_FLAGS, "--policy", "linucb", "-o", tmp_path / "ev", "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    assert "internal error" not in proc.stderr


def test_index_columns_and_pandas_unnamed_are_not_context_but_a_timestamp_col_is_used(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("Unnamed: 0,index,action,reward,propensity,time,u\n0,0,a,1,0.5,10,x\n1,1,b,0,0.5,11,y\n")
    src = open_log(path, mapping=ColumnMapping(timestamp_col="time"))
    events = [ev for chunk in src.chunks() for ev in chunk]
    assert [ev.context for ev in events] == [{"context": {"u": "x"}}, {"context": {"u": "y"}}]
    assert [ev.time for ev in events] == [10.0, 11.0]
    # named explicitly, an index column is context like any other
    src = open_log(path, mapping=ColumnMapping(context_cols=["index"]))
    assert next(iter(src)).context == {"context": {"index": 0.0}}


def test_column_groups_strip_a_trailing_number():
    assert column_groups(["user_feature_0", "user_feature_1", "user-item_affinity_12", "age", "x1", "x2", "7"]) == {
        "user_feature": ["user_feature_0", "user_feature_1"],
        "user-item_affinity": ["user-item_affinity_12"],
        "age": ["age"],
        "x": ["x1", "x2"],
        "7": ["7"],
    }


def _with(tmp_path, row: int, col: str, value: str):
    path = obd_csv(tmp_path / "all.csv", n=200)
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[row].split(",")
    cells[header.index(col)] = value
    lines[row] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    "col, value, message",
    [
        ("propensity_score", "1e-300", "row 5: propensity '1e-300' is below 1e-12"),
        ("click", "1e308", r"row 5: reward '1e308' is outside \[-1e\+12, 1e\+12\]"),
        ("timestamp", "yesterday", "row 5: timestamp 'yesterday' is neither seconds nor an ISO 8601 time"),
        ("timestamp", "inf", "row 5: timestamp 'inf' is neither seconds nor an ISO 8601 time"),
    ],
)
def test_values_no_log_holds_are_one_line_errors_in_replay_and_evaluate(tmp_path, console, col, value, message):
    path = _with(tmp_path, 5, col, value)
    mapping = ColumnMapping(
        action_col="item_id", reward_col="click", propensity_col="propensity_score", timestamp_col="timestamp"
    )
    with pytest.raises(OPEError, match=message):
        replay_log(path, ["uniform"], ["ips"], mapping=mapping)
    result = replay_log(path, ["uniform"], ["ips"], mapping=mapping, max_bad_lines=1)
    assert result["log"]["events"] == 199 and np.isfinite(result["policies"][0]["estimates"]["ips"]["value"])
    for command in ("replay", "evaluate"):
        proc = console(
            command, path, *OBD_FLAGS, "--timestamp-col", "timestamp", "--policy", "uniform", "-o", tmp_path / command
        )
        assert proc.returncode == 1, (command, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and "internal error" not in lines[0], proc.stderr
        assert "Traceback" not in proc.stderr and "RuntimeWarning" not in proc.stderr


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("_label_probability", 1e-300, "probability 1e-300 is below 1e-12"),
        ("_label_cost", -1e308, r"_label_cost -1e\+308 is outside"),
        ("Timestamp", "yesterday", "Timestamp 'yesterday' is neither seconds nor an ISO 8601 time"),
    ],
)
def test_dsjson_refuses_the_same_values(tmp_path, field, value, message):
    objs = [
        {
            "_label_cost": -float(i % 2),
            "_label_probability": 0.5,
            "_labelIndex": i % 2,
            "Timestamp": f"2020-01-01T00:00:{i:02d}Z",
            "c": {"u": {"s": "x"}, "_multi": [{"id": "a"}, {"id": "b"}]},
        }
        for i in range(10)
    ]
    objs[3][field] = value
    path = tmp_path / "log.json"
    path.write_text("\n".join(json.dumps(o) for o in objs) + "\n")
    with pytest.raises(OPEError, match="log.json:4: " + message):
        replay_log(path, ["uniform"], ["ips"])


def test_hide_context_drops_one_namespace_or_one_column_prefix():
    from simulations.ope.importance import context_groups
    from simulations.ope.scoring import hide_context

    ctx = {"context": {"user_feature_0": "a", "user_feature_1": "b", "age": 3.0}, "user": {"x": 1.0}}
    assert hide_context(ctx, "user") == {"context": ctx["context"]}
    assert hide_context(ctx, "context/user_feature") == {"context": {"age": 3.0}, "user": {"x": 1.0}}
    assert ctx["context"]["user_feature_0"] == "a"  # the event's own context is not changed
    groups = context_groups(
        {"context": dict.fromkeys(["user_feature_0", "user_feature_1", "age"]), "user": dict.fromkeys(["x", "y"])}
    )
    assert groups == {
        "context/user_feature": ["user_feature_0", "user_feature_1"],
        "context/age": ["age"],
        "user": ["x", "y"],
    }
    # a flat log with one prefix only stays one group
    assert context_groups({"context": dict.fromkeys(["f_0", "f_1"])}) == {"context": ["f_0", "f_1"]}


def test_importance_on_a_flat_csv_is_per_column_group_with_the_grouping_shown(tmp_path):
    from simulations.ope.evalreport import write_evaluation_report
    from simulations.ope.evaluate import evaluate

    rng = np.random.default_rng(5)
    rows = ["item,click,p,seg_0,seg_1,noise_0,noise_1,age"]
    for _ in range(2500):
        seg = int(rng.integers(3))
        item = int(rng.integers(3))
        click = int(rng.random() < (0.8 if item == seg else 0.1))
        rows.append(
            f"i{item},{click},{1 / 3},s{seg},t{seg},{rng.random():.3f},n{rng.integers(50)},{rng.integers(18, 80)}"
        )
    path = tmp_path / "flat.csv"
    path.write_text("\n".join(rows) + "\n")
    mapping = ColumnMapping(action_col="item", reward_col="click", propensity_col="p")
    result = evaluate(path, tmp_path / "work", ["vw:squarecb"], mapping=mapping, importance=True, drift=False)
    imp = result["importance"]
    assert imp["grouping"] == {
        "context/seg": ["seg_0", "seg_1"],
        "context/noise": ["noise_0", "noise_1"],
        "context/age": ["age"],
    }
    drops = {g["name"]: g["drop"] for g in imp["groups"]}
    assert set(drops) == {"context/seg", "context/noise", "context/age"}
    assert imp["groups"][0]["name"] == "context/seg" and drops["context/seg"] > 0.2
    assert drops["context/seg"] > 5 * max(abs(drops["context/noise"]), abs(drops["context/age"]))
    write_evaluation_report(result, tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text()
    assert "<code>context/seg</code> = seg_0, seg_1" in page
