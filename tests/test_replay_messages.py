"""Messages from issue 19: `artbandit rank` says when a context feature was never seen by the model."""

from __future__ import annotations

import json


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
