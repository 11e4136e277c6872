"""The drift test waits one reward window: with delayed rewards, the first rewards learned are mostly
clicks (non-clicks get their default only when the window closes), and a detector warmed up on them
raised a false drop ~1,000 rewards in. With the clock (bandit.drift_hook.drift_clock) no false drop;
the known change is still found, by the library policies and by the decision service.

Only drops while viewers are still arriving count: once traffic stops, the last clicks arrive and
then only the defaults of the last window, a real drop in what is learned (an end-of-run artefact
of every finite simulation, not of a live service)."""
from __future__ import annotations

import heapq

import numpy as np
import pytest

from bandit import Personalizer, SelectingPersonalizer
from bandit.service import DecisionService
from bandit.service_config import ServiceConfig
from tests.bandit_helpers import SEGMENTS, Stream, click_probabilities, make_actions
from simulations.world.environment import Environment
from simulations.online.runner import run_policy
from simulations.world.scenarios import load_scenario

WAIT, DELAY = 120.0, 30.0  # the `delayed` scenario's window and mean click delay
RATE = 20.0  # viewers per simulated second: a window holds 2,400 decisions, more than the warm-up


@pytest.mark.parametrize("make", [SelectingPersonalizer, Personalizer], ids=["vw:select", "one model"])
def test_the_delayed_scenario_raises_no_drop_while_the_first_window_fills(make):
    scenario = load_scenario("delayed")
    env = Environment(scenario, seed=0)
    stream = env.generate(12_000)  # 240 simulated seconds: two reward windows
    policy = make(seed=0, reward_wait_s=scenario.reward_wait_s)
    learned_by_rank = []
    rank = policy.rank

    def counting_rank(*args, **kwargs):
        learned_by_rank.append(policy.n_learned)
        return rank(*args, **kwargs)

    policy.rank = counting_rank
    run_policy(env, stream, policy)
    while_traffic = [e for e in policy.drift_events if e <= learned_by_rank[-1]]
    assert learned_by_rank[-1] > 3000
    assert while_traffic == []  # without the clock: [1045] for both, and no change in the audience
    assert WAIT <= policy._watch_from <= WAIT + 5  # the first learned event's window end


def _delayed_drive(policy, rank, reward, expire, n: int, change: int | None,
                   seed: int = 0) -> tuple[int, int]:
    """RATE viewers per simulated second; a click is rewarded after an exponential delay (mean 30 s),
    a non-click never (its window closes with the default reward). From `change` on, every segment
    clicks what the next one liked. Returns `policy.n_learned` at the change (nothing learned until
    then was decided after it) and when traffic stopped."""
    stream, actions = Stream(seed), make_actions()
    rng = np.random.default_rng(seed + 1)
    due: list[tuple[float, str]] = []
    at_change = None
    for i in range(n):
        t = i / RATE
        while due and due[0][0] <= t:
            when, event_id = heapq.heappop(due)
            reward(event_id, 1.0, when)
        _, context, _ = stream.next()
        segment = context["user"]["segment"]
        if i == change:
            at_change = policy.n_learned
        if change is not None and i >= change:
            segment = SEGMENTS[(SEGMENTS.index(segment) + 1) % len(SEGMENTS)]
        event_id, index = rank(context, actions, t)
        delay = rng.exponential(DELAY)
        if rng.random() < click_probabilities(segment)[index] and delay < WAIT:  # later: lost, as live
            heapq.heappush(due, (t + delay, event_id))
    learned = policy.n_learned
    while due:  # traffic has stopped: the last clicks, then the last windows close
        when, event_id = heapq.heappop(due)
        reward(event_id, 1.0, when)
    expire(n / RATE + 2 * WAIT)
    return at_change, learned


@pytest.mark.parametrize("change", [None, 7000], ids=["no change", "change at 7000"])
def test_with_delayed_rewards_only_the_real_change_is_a_drop(change):
    policy = SelectingPersonalizer(seed=0, reward_wait_s=WAIT)

    def rank(context, actions, now):
        d = policy.rank(context, actions, now=now)
        return d.event_id, d.index

    at_change, learned = _delayed_drive(policy, rank, lambda e, v, now: policy.reward(e, v, now=now),
                                        lambda now: policy.expire(now=now), n=12_000, change=change)
    while_traffic = [e for e in policy.drift_events if e <= learned]
    if change is None:
        assert while_traffic == []
    else:
        assert len(while_traffic) == 1 and at_change < while_traffic[0]


def test_the_decision_service_keeps_the_clock_and_its_restart_continues_it(tmp_path):
    svc = DecisionService(tmp_path / "svc", seed=0, id_seed=0)
    svc.set_config(ServiceConfig(reward_wait_s=WAIT))

    def rank(context, actions, now):
        r = svc.rank(context, actions, now=now)
        return r.event_id, [a["id"] for a in actions].index(r.reward_action_id)

    _, learned = _delayed_drive(svc.policy, rank, lambda e, v, now: svc.reward(e, v, now=now),
                                lambda now: svc.expire(now), 6000, None)
    assert [e for e in svc.policy.drift_events if e <= learned] == [] and svc.policy._watching
    watch_from = svc.policy._watch_from
    assert WAIT <= watch_from <= WAIT + 10  # the first learned event's window end
    svc.close()
    again = DecisionService(tmp_path / "svc", seed=0)
    assert again.policy._watch_from == watch_from and again.policy._watching
    again.close()
