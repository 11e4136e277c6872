"""The decision service runs `vw:select` (`--cb_explore_adf --select`): arguments, restarts, export.

Contracts of the decision service that mutants survived (issue 28): the probability answered and
logged under explorationPercentage, and the configured defaultReward on expiry.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3

import orjson
import pytest

from bandit.errors import BanditError
from bandit.policies.personalizer import Personalizer
from bandit.policies.vw import VWPolicy
from bandit.service.config import ServiceConfig, policy_kwargs
from bandit.service.decision_service import DecisionService
from bandit.service.model_export import MAGIC_V1, _digest, export_model, import_model
from tests.bandit_helpers import make_actions

SELECT = "--cb_explore_adf --select"


def test_select_arguments_give_select_options_and_refuse_what_it_fixes():
    assert policy_kwargs(SELECT, bits=18) == {"exploration": "select", "bits": 18}
    assert policy_kwargs(SELECT + " --gamma_scale 30 --quiet -b 18", bits=18) == {
        "exploration": "select", "bits": 18, "gamma_scale": 30.0}
    for extra, named in [("-q cA", "-q"), ("-l 0.5", "-l"), ("--power_t 0", "--power_t"),
                         ("--epsilon 0.1", "more than one exploration"), ("-b 20", "cannot change")]:
        with pytest.raises(BanditError, match=named) as err:
            policy_kwargs(f"{SELECT} {extra}", bits=18)
        assert "\n" not in str(err.value)


def _traffic(svc: DecisionService, start: int, n: int, rewarded_later: list[str]) -> None:
    actions = make_actions()
    for i in range(start, start + n):
        ctx = {"user": {"segment": ("action", "romance", "kids")[i % 3], "hour": i % 24}}
        d = svc.rank(ctx, actions, event_id=f"e{i}", now=float(i))
        if i % 3:
            svc.reward(d.event_id, float(d.action_id in ("v0", "v1", "v2")), now=float(i))
        else:
            rewarded_later.append(d.event_id)


def test_a_select_service_restarts_into_the_model_an_uninterrupted_one_has(tmp_path):
    a = DecisionService(tmp_path / "a", seed=4)
    b = DecisionService(tmp_path / "b", seed=4)
    for svc in (a, b):
        svc.replace_policy(svc.new_policy(SELECT), SELECT)
        svc.checkpoint()
    later_a: list[str] = []
    later_b: list[str] = []
    _traffic(a, 0, 90, later_a)
    _traffic(b, 0, 45, later_b)
    b.checkpoint()
    _traffic(b, 45, 45, later_b)  # learned after the checkpoint: re-learned from the journal
    b.journal.close()  # a crash: no final checkpoint (the state lock goes with the object)
    b.log.close()
    b.state.close()
    b = DecisionService(tmp_path / "b", seed=4)
    assert isinstance(b.policy, Personalizer) and b.arguments == SELECT
    assert b.status()["relearned"] > 0 and len(b.book) == len(a.book) == 30
    for event in later_a:  # the late rewards of events ranked before the crash
        a.reward(event, 0.5, now=200.0)
        b.reward(event, 0.5, now=200.0)
    ctx, actions = {"user": {"segment": "kids", "hour": 3}}, make_actions()
    assert b.policy.n_learned == a.policy.n_learned == 90
    assert b.policy.loss.tolist() == pytest.approx(a.policy.loss.tolist(), abs=1e-9)
    assert b.policy.predict(ctx, actions).tolist() == pytest.approx(a.policy.predict(ctx, actions).tolist(), abs=1e-9)
    assert b.policy.predict(ctx, actions).max() > 0.5  # it learned (uniform would be 0.125)
    a.close()
    b.close()


def _learned_select() -> Personalizer:
    policy = Personalizer(seed=2)
    actions = make_actions()
    for i in range(120):
        d = policy.rank({"user": {"segment": ("action", "kids")[i % 2]}}, actions, now=float(i))
        policy.reward(d.event_id, float(d.index == 2 * (i % 2)), now=float(i))
    return policy


def test_select_export_imports_into_the_same_model_and_damage_is_refused():
    policy = _learned_select()
    blob = export_model(policy)
    assert blob.startswith(b"ARTBANDIT-MODEL/2\n")
    header = json.loads(blob.split(b"\n", 2)[1])
    assert [name for name, _ in header["files"]] == ["model0.vw", "model1.vw"]
    back = import_model(blob)
    assert isinstance(back, Personalizer)
    ctx, actions = {"user": {"segment": "kids"}}, make_actions()
    assert back.predict(ctx, actions).tolist() == pytest.approx(policy.predict(ctx, actions).tolist(), abs=1e-9)
    assert back.loss.tolist() == policy.loss.tolist() and back.n_learned == 120

    def reheader(**changes) -> bytes:  # a header edited and re-signed, so only the new check can refuse it
        h = {**header, **changes}
        model = blob.split(b"\n", 2)[2]
        h["sha256"] = _digest(h["metadata"], h["files"], model)
        return b"ARTBANDIT-MODEL/2\n" + json.dumps(h).encode() + b"\n" + model

    sizes = [size for _, size in header["files"]]
    for files, message in [([["../model0.vw", sizes[0]], ["model1.vw", sizes[1]]], "never writes"),
                           ([["model0.vw", sizes[0]], ["model0.vw", sizes[1]]], "never writes"),
                           ([["model0.vw", sizes[0]], ["model1.vw", sizes[1] - 1]], "truncated"),
                           ([["model0.vw", sizes[0] + sizes[1]]], "^model0.vw: missing"),
                           ([], "never writes")]:
        with pytest.raises(BanditError, match=message):
            import_model(reheader(files=files))
    with pytest.raises(BanditError, match="checksum"):
        import_model(blob[:-5])
    swapped = reheader(files=[["model1.vw", sizes[0]], ["model0.vw", sizes[1]]])
    with pytest.raises(BanditError, match="^model0.vw: missing, or does not match the checksum"):  # each file's own
        import_model(swapped)


def test_every_models_stored_options_are_checked_on_import(tmp_path):
    policy = _learned_select()
    policy.save(tmp_path / "m")
    # a second model built with an option artbandit never sets, its checksum put in the metadata
    import vowpalwabbit

    rogue = vowpalwabbit.Workspace("--cb_adf --quiet -b 18 --interactions cA --nn 2")
    rogue.save(str(tmp_path / "m" / "model1.vw"))
    meta = json.loads((tmp_path / "m" / "metadata.json").read_text())
    meta["model_sha256"]["model1.vw"] = hashlib.sha256((tmp_path / "m" / "model1.vw").read_bytes()).hexdigest()
    (tmp_path / "m" / "metadata.json").write_text(json.dumps(meta))
    parts = [(tmp_path / "m" / f"model{i}.vw").read_bytes() for i in range(2)]
    files = [["model0.vw", len(parts[0])], ["model1.vw", len(parts[1])]]
    model = b"".join(parts)
    header = {"metadata": meta, "files": files, "sha256": _digest(meta, files, model)}
    blob = b"ARTBANDIT-MODEL/2\n" + json.dumps(header).encode() + b"\n" + model
    with pytest.raises(BanditError, match="--nn"):
        import_model(blob)


def test_an_export_of_the_first_format_still_imports(tmp_path):
    policy = VWPolicy(seed=1)
    actions = make_actions()
    for i in range(50):
        d = policy.rank({"user": {"segment": "kids"}}, actions, now=float(i))
        policy.reward(d.event_id, float(d.index == 2), now=float(i))
    policy.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "metadata.json").read_text())
    model = (tmp_path / "m" / "model.vw").read_bytes()
    old = MAGIC_V1 + json.dumps({"metadata": meta, "sha256": _digest(meta, None, model)}).encode() + b"\n" + model
    back = import_model(old)
    ctx = {"user": {"segment": "kids"}}
    assert back.predict(ctx, actions).tolist() == pytest.approx(policy.predict(ctx, actions).tolist(), abs=1e-9)
    with pytest.raises(BanditError, match="checksum"):
        import_model(old[:-3])


ACTIONS = [{"id": f"v{k}", "features": {"style": f"s{k}"}} for k in range(4)]


def _rows(path, query, args=()):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(query, args).fetchall()
    finally:
        db.close()


def test_exploration_percentage_mixes_the_answered_and_logged_probabilities(tmp_path):
    """At 0.5 each action's probability is 0.5 x the policy's + 0.5 / 4 (hand-computed from the
    policy's own pmf), the ranking sums to 1, and the journal and the event log hold the same
    probability the caller was answered. Answering the unmixed one passed every test."""
    state = tmp_path / "s"
    with DecisionService(state, seed=3, id_seed=1) as svc:
        for i in range(150):  # a policy that prefers v2: its pmf is far from uniform
            r = svc.rank({"u": {"i": i % 5}}, ACTIONS, now=float(i))
            svc.reward(r.event_id, 1.0 if r.action_id == "v2" else 0.0, now=float(i) + 0.5)
        svc.set_config(ServiceConfig(exploration=0.5))
        answered = []
        for i in range(40):
            context = {"u": {"i": i % 5}}
            policy_pmf = list(svc.policy.predict(context, ACTIONS))
            assert max(policy_pmf) > 0.4  # far from uniform, so mixing changes every probability
            expected = {a["id"]: 0.5 * p + 0.5 / 4 for a, p in zip(ACTIONS, policy_pmf)}
            r = svc.rank(context, ACTIONS, now=100.0 + i)
            got = dict(r.ranking)
            assert got == pytest.approx(expected, abs=1e-9)
            assert sum(got.values()) == pytest.approx(1.0, abs=1e-9)
            assert r.probability == pytest.approx(expected[r.action_id], abs=1e-9)
            answered.append((r.event_id, r.probability))
            svc.reward(r.event_id, 1.0 if r.action_id == "v2" else 0.0, now=100.5 + i)
        assert min(p for _, p in answered) < 0.25  # some draws took an action the policy disfavours
    journal = {e: orjson.loads(b)["p"] for e, b in _rows(state / "journal.sqlite",
                                                         "SELECT event_id, body FROM records WHERE kind='rank'")}
    logged = dict(_rows(state / "events.sqlite", "SELECT event_id, probability FROM events"))
    for event_id, p in answered:
        assert journal[event_id] == pytest.approx(p, abs=1e-12)
        assert logged[event_id] == pytest.approx(p, abs=1e-12)


@pytest.mark.parametrize("default", [-0.5, 0.3])
def test_expiry_journals_and_learns_the_configured_default_reward(tmp_path, default):
    """The only test used 0.0, so journalling and learning 0.0 instead passed."""
    state = tmp_path / "s"
    with DecisionService(state, seed=0, id_seed=1, reward_range=(-1.0, 1.0)) as svc:
        svc.set_config(ServiceConfig(reward_wait_s=10.0, default_reward=default))
        r = svc.rank({"u": {"x": 1}}, ACTIONS, now=0.0)
        learned = []
        real = svc.learn_closed
        svc.learn_closed = lambda ev, value, when: learned.append(value) or real(ev, value, when)
        assert svc.expire(now=11.0) == 1
        assert learned == [default]
        assert svc.counters["default_rewards"] == 1
    closes = [orjson.loads(b) for (b,) in _rows(state / "journal.sqlite",
                                                "SELECT body FROM records WHERE kind='close' AND event_id=?",
                                                (r.event_id,))]
    assert closes == [{"v": default, "why": "defaulted", "l": True}]
    assert _rows(state / "events.sqlite", "SELECT reward, defaulted FROM events WHERE event_id=?",
                 (r.event_id,)) == [(default, 1)]
