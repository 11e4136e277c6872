"""`artbandit log export`, `train`, `rank` end to end, including one-line errors for bad input.

Messages from issue 19: `artbandit rank` says when a context feature was never seen by the model.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bandit import EventLog, VWPolicy, make_policy
from tests.bandit_helpers import Stream, make_actions

SECRET = "test-secret-0123456789"


@pytest.fixture()
def events(tmp_path) -> Path:
    path = tmp_path / "events.sqlite"
    policy = make_policy("uniform", seed=0, log=path, secret=SECRET)
    stream = Stream(0)
    for t in range(600):
        user_id, context, click_p = stream.next()
        d = policy.rank(context, make_actions(), user_id=user_id, now=float(t))
        policy.reward(d.event_id, float(click_p[d.index] > 0.5), now=float(t))
    policy.close()
    return path


def test_log_export_each_format(events, tmp_path, cli):
    for fmt in ("dsjson", "csv", "jsonl"):
        out = tmp_path / f"events.{fmt}"
        code, _, err = cli(["log", "export", str(events), "--format", fmt, "-o", str(out)])
        assert code == 0 and "exported 600 events" in err
        lines = out.read_text().splitlines()
        assert len(lines) == 600 + (fmt == "csv")
    code, out, _ = cli(["log", "export", str(events), "--format", "jsonl", "-q"])
    assert code == 0 and json.loads(out.splitlines()[0])["policy"] == "uniform"


def test_train_warm_start_then_rank(events, tmp_path, cli):
    model = tmp_path / "model"
    code, _, err = cli(["train", str(events), "-o", str(model), "-q"])
    # the default is vw:select: one VW model file per interaction set
    assert code == 0 and (model / "model0.vw").is_file() and (model / "model1.vw").is_file()
    meta = json.loads((model / "metadata.json").read_text())
    assert meta["policy"] == "vw:select"
    assert meta["events_learned"] == 600
    # the warm-started model learned from uniform traffic which style each segment clicks
    ctx = tmp_path / "ctx.json"
    ctx.write_text(json.dumps({"user": {"segment": "kids", "device": "tv"}, "time": {"hour": 0.5}}))
    acts = tmp_path / "acts.json"
    acts.write_text(json.dumps({"variants": make_actions()}))  # variants.json shape works too
    code, out, _ = cli(["rank", str(model), "--context", str(ctx), "--actions", str(acts), "--json", "--seed", "1"])
    assert code == 0
    decision = json.loads(out)
    # Personalizer's rank response: the chosen (logged) action first, the rest by falling probability
    assert set(decision) == {"eventId", "rewardActionId", "ranking"}
    ranked = [r["id"] for r in decision["ranking"]]
    assert ranked[0] == decision["rewardActionId"] and sorted(ranked) == sorted(a["id"] for a in make_actions())
    rest = [r["probability"] for r in decision["ranking"][1:]]
    assert rest == sorted(rest, reverse=True)
    probs = {r["id"]: r["probability"] for r in decision["ranking"]}
    assert max(probs, key=probs.get) in ("v2", "v5")  # the cartoon variants
    code, out, _ = cli(["rank", str(model), "--context", str(ctx), "--actions", str(acts)])
    assert code == 0 and out.startswith("chosen: ") and len(out.splitlines()) == 9
    # logging the one-shot decision, twice: distinct event ids
    log_path = tmp_path / "rank.sqlite"
    for _ in range(2):
        code, _, _ = cli(
            [
                "rank",
                str(model),
                "--context",
                str(ctx),
                "--actions",
                str(acts),
                "--log",
                str(log_path),
                "--user-id",
                "alice@example.com",
            ]
        )
        assert code == 0
    assert len(EventLog(log_path, readonly=True)) == 2
    assert b"alice" not in log_path.read_bytes()
    # --init continues an existing model
    code, _, _ = cli(["train", str(events), "-o", str(tmp_path / "m2"), "--init", str(model), "-q"])
    assert code == 0
    assert json.loads((tmp_path / "m2" / "metadata.json").read_text())["events_learned"] == 1200


def test_bad_input_gives_one_line_errors(events, tmp_path, cli):
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database at all " * 50)
    ctx = tmp_path / "ctx.json"
    ctx.write_text(json.dumps({"user": {"segment": "kids"}}))
    acts = tmp_path / "acts.json"
    acts.write_text(json.dumps(make_actions()))
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{oops")
    model = tmp_path / "model"
    VWPolicy(seed=0).save(model)
    cases = [
        (["log", "export", str(junk)], "junk.sqlite: not an artbandit event log"),
        (["log", "export", str(tmp_path / "nope.sqlite")], "no such event log"),
        (["train", str(junk), "-o", str(tmp_path / "m")], "not an artbandit event log"),
        (["rank", str(tmp_path / "nomodel"), "--context", str(ctx), "--actions", str(acts)], "no such model"),
        (["rank", str(model), "--context", str(bad_json), "--actions", str(acts)], "bad.json: not valid JSON"),
        (["rank", str(model), "--context", str(acts), "--actions", str(acts)], "context must be an object"),
        (["rank", str(model), "--context", str(ctx), "--actions", str(ctx)], "expected a non-empty list"),
        (["rank", str(model), "--context", str(ctx), "--actions", str(tmp_path / "x.json")], "no such actions"),
    ]
    for args, message in cases:
        code, out, err = cli(args)
        assert code != 0, args
        assert err.count("\n") == 1 and message in err and "Traceback" not in err, (args, err)
    assert not (tmp_path / "m").exists()


def test_console_script_runs(events, tmp_path):
    exe = Path(sys.executable).with_name("artbandit")
    result = subprocess.run(
        [str(exe), "log", "export", str(events), "--format", "dsjson", "-q"], capture_output=True, text=True, check=True
    )
    assert len(result.stdout.splitlines()) == 600


def test_rank_warns_about_context_features_the_model_never_saw(tmp_path, console):
    from bandit import make_policy

    actions = [{"id": "warm", "features": {"warmth": 0.9}}, {"id": "cold", "features": {"warmth": 0.1}}]
    policy = make_policy("vw:squarecb", seed=0)
    for i in range(50):
        d = policy.rank({"user": {"segment": f"s{i % 3}"}, "title": {"genre": "drama"}}, actions, now=float(i))
        policy.reward(d.event_id, float(d.action_id == "warm"), now=float(i))
    policy.save(tmp_path / "model")
    (tmp_path / "actions.json").write_text(json.dumps(actions))

    (tmp_path / "known.json").write_text(json.dumps({"user": {"segment": "s1"}, "title": {"genre": "comedy"}}))
    proc = console(
        "rank",
        tmp_path / "model",
        "--context",
        tmp_path / "known.json",
        "--actions",
        tmp_path / "actions.json",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    assert "never saw" not in proc.stderr
    assert json.loads(proc.stdout)["rewardActionId"] in ("warm", "cold")

    (tmp_path / "new.json").write_text(json.dumps({"user": {"segment": "s1", "age": 31}, "device": {"tv": 1}}))
    proc = console(
        "rank", tmp_path / "model", "--context", tmp_path / "new.json", "--actions", tmp_path / "actions.json", "--json"
    )
    assert proc.returncode == 0, proc.stderr
    assert "warning: the model never saw context features user.age, device.tv" in proc.stderr
    assert "segment" not in proc.stderr
    json.loads(proc.stdout)  # stdout stays machine-readable

    (tmp_path / "one.json").write_text(json.dumps({"user": {"segment": "s2", "age": 40}}))
    proc = console(
        "rank", tmp_path / "model", "--context", tmp_path / "one.json", "--actions", tmp_path / "actions.json"
    )
    assert "never saw context feature user.age: no learned weight, so it does not" in proc.stderr
