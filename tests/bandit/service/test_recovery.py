"""Tests of bandit.service.recovery: a restarted service (checkpoint + journal replay) holds the same
open events and the same model as one that never stopped."""

from __future__ import annotations

import pytest

from bandit.policies.personalizer import Personalizer
from bandit.service.decision_service import DecisionService
from tests.bandit_helpers import make_actions

SELECT = "--cb_explore_adf --select"


def _fresh_actions(i: int) -> list[dict]:
    """Request i's actions, new at every request (ids and features), as a news feed's."""
    return [
        {"id": f"n{i}.{j}", "features": {"tone": float((i * 7 + j * 3) % 11) / 10, "long": float(j % 2)}}
        for j in range(6)
    ]


def _traffic(svc: DecisionService, start: int, n: int, rewarded_later: list[str], fresh: bool = False) -> None:
    actions = make_actions()
    for i in range(start, start + n):
        if fresh:
            actions = _fresh_actions(i)
        ctx = {"user": {"segment": ("action", "romance", "kids")[i % 3], "hour": i % 24}}
        d = svc.rank(ctx, actions, event_id=f"e{i}", now=float(i))
        if i % 3:
            good = d.action_id in ("v0", "v1", "v2") or (fresh and d.action_id.endswith((".1", ".3", ".5")))
            svc.reward(d.event_id, float(good), now=float(i))
        else:
            rewarded_later.append(d.event_id)


def _select_twins(tmp_path, arguments: str) -> tuple[DecisionService, DecisionService]:
    """Two services with the same seed and policy arguments, each checkpointed once."""
    a = DecisionService(tmp_path / "a", seed=4)
    b = DecisionService(tmp_path / "b", seed=4)
    for svc in (a, b):
        svc.replace_policy(svc.new_policy(arguments), arguments)
        svc.checkpoint()
    return a, b


def _crash_and_restart(svc: DecisionService, folder) -> DecisionService:
    """A crash (no final checkpoint; the state lock goes with the object), then a new service."""
    svc.journal.close()
    svc.log.close()
    svc.state.close()
    return DecisionService(folder, seed=4)


@pytest.mark.parametrize("arguments", [SELECT, SELECT + " --ridge", SELECT + " --no_ridge"])
def test_a_select_service_restarts_into_the_model_an_uninterrupted_one_has(tmp_path, arguments):
    a, b = _select_twins(tmp_path, arguments)
    later_a: list[str] = []
    later_b: list[str] = []
    _traffic(a, 0, 90, later_a)
    _traffic(b, 0, 45, later_b)
    b.checkpoint()
    _traffic(b, 45, 45, later_b)  # learned after the checkpoint: re-learned from the journal
    b = _crash_and_restart(b, tmp_path / "b")
    assert isinstance(b.policy, Personalizer) and b.arguments == arguments
    mode = {"--ridge": "always", "--no_ridge": None}.get(arguments.split()[-1], "auto")
    assert b.policy.ridge_mode == mode and b.policy.loss.shape == a.policy.loss.shape
    # a catalogue of fixed variants: the auto member stays out (weight 0), --ridge's is in
    mixture = b.status()["mixture"]
    assert mixture["ridge"] == mode and mixture["ridgeInMixture"] == (mode == "always")
    assert len(mixture["weights"]) == (2 if mode is None else 3) and (mode != "auto" or mixture["weights"][2] == 0.0)
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


def test_a_select_service_with_fresh_actions_restarts_with_its_ridge_member_as_it_was(tmp_path):
    """Actions new at every request: the default's ridge member joins the mixture (after 32 sets),
    and a service restarted from a checkpoint taken before that, plus its journal, comes back with the
    member in, the same squared errors and the same predictions as one that never stopped."""
    a, b = _select_twins(tmp_path, SELECT)
    later_a: list[str] = []
    later_b: list[str] = []
    _traffic(a, 0, 90, later_a, fresh=True)
    _traffic(b, 0, 20, later_b, fresh=True)
    b.checkpoint()
    assert not b.policy._ridge_on
    _traffic(b, 20, 70, later_b, fresh=True)
    b = _crash_and_restart(b, tmp_path / "b")
    assert b.policy.ridge_mode == "auto" and a.policy._ridge_on and b.policy._ridge_on
    mixture = b.status()["mixture"]
    assert mixture["ridge"] == "auto" and mixture["ridgeInMixture"] and mixture["freshShare"] == 1.0
    assert len(mixture["weights"]) == 3 and abs(sum(mixture["weights"]) - 1) < 1e-5 and mixture == a.status()["mixture"]
    assert b.policy.n_learned == a.policy.n_learned == 60
    assert b.policy.loss.tolist() == pytest.approx(a.policy.loss.tolist(), abs=1e-9)
    ctx, actions = {"user": {"segment": "kids", "hour": 3}}, _fresh_actions(500)
    assert b.policy.predict(ctx, actions).tolist() == pytest.approx(a.policy.predict(ctx, actions).tolist(), abs=1e-9)
    a.close()
    b.close()


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
