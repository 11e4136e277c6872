"""The decision service runs `vw:select` (`--cb_explore_adf --select`): arguments, restarts, export.

Contracts of the decision service that mutants survived (issue 28): the probability answered and
logged under explorationPercentage, and the configured defaultReward on expiry.

The DecisionService in process (moved from the serve tests: tests/test_serve_hostile.py,
test_serve_learning.py, test_serve_disk.py): hostile values refused and rolled back, memory bounded
by bytes, Personalizer's reward windows, restarts, owner-only files and temporaries (issue 27).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import stat

import orjson
import pytest

import bandit.vwformat as vwformat
from bandit.errors import BanditError, DuplicateRewardError, ExpiredEventError
from bandit.policies.personalizer import Personalizer
from bandit.policies.vw import VWPolicy
from bandit.service.config import ServiceConfig, policy_kwargs
from bandit.service.decision_service import DecisionService, Slot
from bandit.service.model_export import MAGIC_V1, _digest, export_model, import_model
from tests.bandit_helpers import make_actions
from tests.serve_helpers import HOSTILE, big_context, four_actions, lib_rank, train_v2, v2_probability

SELECT = "--cb_explore_adf --select"


def test_select_arguments_give_select_options_and_refuse_what_it_fixes():
    assert policy_kwargs(SELECT, bits=18) == {"exploration": "select", "bits": 18}
    assert policy_kwargs(SELECT + " --gamma_scale 30 --quiet -b 18", bits=18) == {
        "exploration": "select",
        "bits": 18,
        "gamma_scale": 30.0,
    }
    for extra, named in [
        ("-q cA", "-q"),
        ("-l 0.5", "-l"),
        ("--power_t 0", "--power_t"),
        ("--epsilon 0.1", "more than one exploration"),
        ("-b 20", "cannot change"),
    ]:
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
    for files, message in [
        ([["../model0.vw", sizes[0]], ["model1.vw", sizes[1]]], "never writes"),
        ([["model0.vw", sizes[0]], ["model0.vw", sizes[1]]], "never writes"),
        ([["model0.vw", sizes[0]], ["model1.vw", sizes[1] - 1]], "truncated"),
        ([["model0.vw", sizes[0] + sizes[1]]], "^model0.vw: missing"),
        ([], "never writes"),
    ]:
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
    journal = {
        e: orjson.loads(b)["p"]
        for e, b in _rows(state / "journal.sqlite", "SELECT event_id, body FROM records WHERE kind='rank'")
    }
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
    closes = [
        orjson.loads(b)
        for (b,) in _rows(
            state / "journal.sqlite", "SELECT body FROM records WHERE kind='close' AND event_id=?", (r.event_id,)
        )
    ]
    assert closes == [{"v": default, "why": "defaulted", "l": True}]
    assert _rows(state / "events.sqlite", "SELECT reward, defaulted FROM events WHERE event_id=?", (r.event_id,)) == [
        (default, 1)
    ]


def test_values_vw_cannot_learn_from_are_refused_in_the_library(tmp_path):
    with DecisionService(tmp_path / "s", seed=0, id_seed=1) as svc:
        for v in HOSTILE:
            with pytest.raises(BanditError, match=r"within ±1e\+10"):
                svc.rank({"user": {"x": v}}, four_actions())
            with pytest.raises(BanditError, match=r"within ±1e\+10"):
                svc.rank({"user": {"seg": "a"}}, four_actions(b=v))
        with pytest.raises(BanditError, match=r"within ±1e\+10"):  # measured: 1e13 already poisons vw:select
            svc.rank({"user": {"x": 1e13}}, four_actions())
        assert svc.status()["ranks"] == 0 and svc.status()["eventsPending"] == 0
        ok = svc.rank({"user": {"x": 1e10, "y": -1.7e9}}, four_actions(b=1e10))  # the bound itself is accepted
        svc.reward(ok.event_id, 1.0)
        train_v2(lib_rank(svc), svc.reward)
        assert v2_probability(svc) > 0.9


def test_a_model_that_goes_non_finite_is_rolled_back_and_never_checkpointed(tmp_path, monkeypatch):
    """The second line of defence: were a hostile value to get past the bound, learning it turns
    vw:select's scores NaN; the service rolls back to the last checkpoint and says so."""
    state = tmp_path / "s"
    with DecisionService(state, seed=0, id_seed=1) as svc:
        train_v2(lib_rank(svc), svc.reward, n=20)
        svc.checkpoint()
        monkeypatch.setattr(vwformat, "MAX_ABS_VALUE", float("inf"))  # let poison through
        for v in HOSTILE:
            r = svc.rank({"user": {"x": v}}, four_actions())
            svc.reward(r.event_id, 1.0)
        monkeypatch.undo()
        status = svc.status()
        assert status["modelRejections"] >= 1 and "non-finite" in status["modelError"]
        assert status["learned"] == 20
        train_v2(lib_rank(svc), svc.reward)
        assert v2_probability(svc) > 0.9
    with DecisionService(state, seed=0, id_seed=1) as svc:  # the damage does not survive a restart
        assert v2_probability(svc) > 0.9
        assert svc.status()["modelRejections"] == 0


def test_pending_events_are_bounded_by_a_memory_budget_and_give_it_back(tmp_path):
    """1,100 never-rewarded ranks with 900 KB contexts took the service from 90 MB to 2.1 GB."""
    from bandit.service.checks import CapacityError

    state = tmp_path / "s"
    budget = 8 << 20
    with DecisionService(state, seed=0, id_seed=1, max_pending_bytes=budget) as svc:
        ranked = []
        with pytest.raises(CapacityError, match="memory budget for pending events is full"):
            for i in range(100):
                ranked.append(svc.rank(big_context(i, 100), four_actions(), now=float(i)).event_id)
        # ~100 KB of JSON counts ~6x: the budget holds about 13 such events, never all 100
        assert 8 <= len(ranked) <= 20
        status = svc.status()
        assert status["eventsPending"] == len(ranked) and status["ranks"] == len(ranked)
        assert budget <= status["pendingBytes"] <= budget + 700_000
        for event_id in ranked[: len(ranked) // 2]:  # rewards give the budget back
            svc.reward(event_id, 1.0, now=200.0)
        assert svc.status()["pendingBytes"] < budget // 2 + 700_000
        svc.rank(big_context(1000, 100), four_actions(), now=201.0)
    with DecisionService(state, seed=0, id_seed=1, max_pending_bytes=budget) as svc:  # recovered events count
        assert svc.status()["eventsPending"] == len(ranked) - len(ranked) // 2 + 1
        assert svc.status()["pendingBytes"] > budget // 3


def test_the_action_list_memory_is_keyed_by_digest_and_bounded(tmp_path):
    """journal._set_seqs was keyed by the whole action-list JSON (50 x 200-character ids: ~12 KB a key)."""
    with DecisionService(tmp_path / "s", seed=0, id_seed=1) as svc:
        for i in range(30):
            svc.rank({"u": {"i": i}}, [{"id": f"{i}-{k}-" + "x" * 190, "features": {}} for k in range(50)])
        keys = list(svc.journal._set_seqs)
        assert len(keys) == 30 and all(len(k) == 16 for k in keys)


def test_per_decision_caches_are_bounded_by_bytes(tmp_path):
    """Caches keyed by action ids or lists grew by count only: fresh 200-character ids in every
    request (4,000 ranks x 50 actions: 90 -> 486 MB and rising)."""
    from bandit.features import ActionRegistry
    from bandit.policies import vw as vw_policy
    from bandit.service import joined_log

    registry = ActionRegistry(max_bytes=1 << 20)
    for i in range(3000):
        registry.lookup([{"id": f"{i}-" + "x" * 200, "features": {"f": 1}}])
    assert registry._bytes <= 1 << 20 and len(registry._by_id) < 3000
    with DecisionService(tmp_path / "s", seed=0, id_seed=1) as svc:
        for i in range(40):
            acts = [{"id": f"{i}-{k}-" + "x" * 190, "features": {}} for k in range(50)]
            r = svc.rank({"u": {"i": i}, "big": {f"f{j}": "y" * 900 for j in range(200)}}, acts)
            svc.reward(r.event_id, 1.0)
        cache = joined_log._ACTIONS_JSON
        assert cache.chars <= cache.max_chars == 8 << 20
        for examples in svc.policy._caches:  # vw:select: one example cache per model
            assert examples.context_chars <= vw_policy.SHARED_CHARS
            assert examples.context_chars == sum(len(k) for k in examples.contexts)


def test_model_file_names_are_matched_whole():
    # '$' matches before a trailing newline: 'model.vw\n' was an acceptable model file name in an export
    # header and in a model folder's listing; names are matched whole (\Z)
    from bandit.policies.model_io import _MODEL_ENTRY
    from bandit.service.model_export import MODEL_NAME

    assert MODEL_NAME.match("model.vw") and MODEL_NAME.match("model1.vw")
    assert not MODEL_NAME.match("model.vw\n") and not _MODEL_ENTRY.match("metadata.json\n")


def _twins(tmp_path):
    # generated ids are random unless an id seed is asked for: the twins need the same ids
    return DecisionService(tmp_path / "a", seed=1, id_seed=1), DecisionService(tmp_path / "b", seed=1, id_seed=1)


def test_library_restart_keeps_open_events_and_the_model(tmp_path):
    actions = make_actions()
    a, b = _twins(tmp_path)
    events = []
    for i in range(60):
        ctx = {"user": {"segment": ("action", "romance", "kids")[i % 3]}}
        ra = a.rank(ctx, actions, now=float(i))
        rb = b.rank(ctx, actions, now=float(i))
        assert ra == rb  # same seed, same requests: same decisions
        events.append(ra.event_id)
        if i % 2:
            a.reward(ra.event_id, 1.0, now=float(i))
            b.reward(rb.event_id, 1.0, now=float(i))
    b.close()
    b = DecisionService(tmp_path / "b", seed=1)  # restart: the checkpoint plus the journal
    assert len(b.book) == len(a.book) == 30
    for i, event in enumerate(events):
        if i % 2 == 0:
            a.reward(event, 0.3, now=100.0)
            b.reward(event, 0.3, now=100.0)
    ctx = {"user": {"segment": "kids"}}
    assert b.policy.predict(ctx, actions).tolist() == pytest.approx(a.policy.predict(ctx, actions).tolist(), abs=1e-9)
    a.close()
    b.close()


def test_reward_windows_default_reward_and_deferred_events(tmp_path):
    actions = make_actions()[:3]
    svc = DecisionService(tmp_path / "s")
    svc.set_config(ServiceConfig(reward_wait_s=10.0, default_reward=0.0))
    plain = svc.rank({"u": {"x": 1}}, actions, now=0.0).event_id
    deferred = svc.rank({"u": {"x": 2}}, actions, defer=True, now=0.0).event_id
    svc.close()
    svc = DecisionService(tmp_path / "s")  # expiry still applies to events ranked before a restart
    assert svc.expire(now=20.0) == 2
    assert svc.counters["default_rewards"] == 1 and svc.counters["not_activated"] == 1
    assert svc.counters["learned"] == 1
    with pytest.raises(ExpiredEventError):
        svc.reward(plain, 1.0, now=21.0)
    with pytest.raises(ExpiredEventError):
        svc.activate(deferred, now=21.0)
    svc.close()


def test_average_aggregation_and_multislot_never_repeats_an_action(tmp_path):
    svc = DecisionService(tmp_path / "s", seed=2)
    svc.set_config(ServiceConfig(reward_wait_s=10.0, reward_aggregation="average"))
    actions = make_actions()
    event = svc.rank({"u": {"x": 1}}, actions, now=0.0).event_id
    svc.reward(event, 1.0, now=1.0)
    svc.reward(event, 0.0, now=2.0)
    assert svc.expire(now=11.0) == 1
    row = next(e for e in svc.log.iter_events() if e.event_id == event)
    assert row.reward == 0.5 and not row.defaulted
    for i in range(30):
        slots = [Slot(f"s{k}", {"pos": k}) for k in range(4)]
        eid, chosen = svc.rank_multislot({"u": {"x": i}}, actions, slots, now=20.0 + i)
        assert len({a for _, a in chosen}) == 4
    with pytest.raises(DuplicateRewardError):
        svc.set_config(ServiceConfig(reward_wait_s=10.0))
        e2 = svc.rank({"u": {"x": 9}}, actions, now=60.0).event_id
        svc.reward(e2, 1.0, now=60.5)
        svc.reward(e2, 1.0, now=60.6)
    svc.close()


def test_a_failed_commit_is_retried_and_the_journal_skips_nothing(tmp_path, monkeypatch):
    svc = DecisionService(tmp_path / "s")
    actions = make_actions()[:3]
    first = svc.rank({"u": {"x": 1}}, actions, now=0.0).event_id
    real_write = svc.journal.write

    def disk_full(batch):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(svc.journal, "write", disk_full)
    with pytest.raises(OSError):
        svc.reward(first, 1.0, now=1.0)
    monkeypatch.setattr(svc.journal, "write", real_write)
    second = svc.rank({"u": {"x": 2}}, actions, now=2.0).event_id
    kinds = [(kind, event) for _, kind, event, _, _ in svc.journal.records() if kind != "set"]
    assert kinds == [("rank", first), ("reward", first), ("close", first), ("rank", second)]
    svc.close()


def test_late_rewards_get_the_right_error_after_memory_forgets(tmp_path):
    svc = DecisionService(tmp_path / "s")
    svc.set_config(ServiceConfig(reward_wait_s=10.0))
    actions = make_actions()[:3]
    rewarded = svc.rank({"u": {"x": 1}}, actions, now=0.0).event_id
    expired = svc.rank({"u": {"x": 2}}, actions, now=0.0).event_id
    svc.reward(rewarded, 1.0, now=1.0)
    svc.expire(now=11.0)
    svc.book.window.closed.clear()  # as after more closes than it remembers: the journal answers
    with pytest.raises(DuplicateRewardError):
        svc.reward(rewarded, 1.0, now=12.0)
    with pytest.raises(ExpiredEventError):
        svc.reward(expired, 1.0, now=12.0)
    svc.close()


def test_logging_only_serves_the_baseline_logs_and_never_learns(tmp_path):
    svc = DecisionService(tmp_path / "s")
    svc.set_config(ServiceConfig(learning_mode="LoggingOnly"))
    actions = make_actions()[:4]
    before = svc.policy.predict({"u": {"x": 1}}, actions).tolist()
    for i in range(20):
        r = svc.rank({"u": {"x": i}}, actions, excluded=["v0"], now=float(i))
        assert r.action_id == "v1" and r.probability == 1.0
        svc.reward(r.event_id, 1.0, now=float(i))
    assert svc.policy.n_learned == 0 and svc.counters["learned"] == 0
    assert svc.policy.predict({"u": {"x": 1}}, actions).tolist() == before
    svc.commit()
    rows = list(svc.log.iter_events())
    assert len(rows) == 20 and all(r.action_id == "v1" and r.probability == 1.0 and r.reward == 1.0 for r in rows)
    svc.close()


def test_journal_files_are_owner_only(tmp_path):
    with DecisionService(tmp_path / "s", id_seed=1) as svc:
        r = svc.rank({"u": {"x": 1}}, make_actions()[:3])
        svc.reward(r.event_id, 1.0)
        names = [p for p in (tmp_path / "s").iterdir() if p.name.startswith("journal.sqlite")]
        assert {p.name for p in names} >= {"journal.sqlite", "journal.sqlite-wal"}
        for p in names:
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, (p.name, oct(p.stat().st_mode))


def test_temporaries_left_by_a_killed_run_are_removed_at_start(tmp_path):
    state = tmp_path / "s"
    with DecisionService(state, id_seed=1) as svc:
        svc.rank({"u": {"x": 1}}, make_actions()[:3])
    ckpts = state / "checkpoints"
    left = [
        ckpts / ".current.json.k2j_x8q1.tmp",
        state / ".config.json.abcd1234.tmp",
        state / ".serve-state.json.zz99zz99.tmp",
    ]
    for p in left:
        p.write_text("{half")
    (ckpts / ".ckpt-000000000004-00001765000000000000000.abtmp-99999999-0a1b2c3d").mkdir()
    keep = [state / "notes.current.json.tmp", ckpts / "current.json.bak", state / ".config.json.tmp"]
    for p in keep:  # not artbandit's pattern: never touched
        p.write_text("mine")
    with DecisionService(state, id_seed=1) as svc:
        assert svc.status()["eventsPending"] == 1
    assert not any(p.exists() for p in left)
    assert not [e for e in ckpts.iterdir() if e.name.startswith(".ckpt-")]
    assert all(p.read_text() == "mine" for p in keep)
    assert stat.S_IMODE((state / "lock").stat().st_mode) == 0o600
