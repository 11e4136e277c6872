"""A policy re-learning its own decisions (the service, recovery) learns exactly what reward() does.

The VW squarecb policy learns its own decisions unweighted but importance-weights events from a log
(another policy's choices). The service learns through ReplayStep; with own_decision=True it must
end with the same model as the library's rank()+reward() on the same decisions.
"""

from __future__ import annotations

import numpy as np

from bandit import VWPolicy

ACTIONS = [{"id": f"v{i}", "features": {"hue": float(i), "kind": f"k{i % 2}"}} for i in range(4)]


def _contexts(n: int) -> list[dict]:
    rng = np.random.default_rng(3)
    return [{"user": {"segment": f"s{int(rng.integers(3))}", "x": float(rng.random())}} for _ in range(n)]


def _final_pmf(own_decision: bool | None) -> list[float]:
    """Run 150 decisions; learn them through reward() (None) or through ReplayStep.learn."""
    reference = VWPolicy(exploration="squarecb", seed=5, id_seed=5)
    learner = VWPolicy(exploration="squarecb", seed=5, id_seed=5)
    for i, ctx in enumerate(_contexts(150)):
        d = reference.rank(ctx, ACTIONS, now=float(i))
        chosen = [a["id"] for a in ACTIONS].index(d.action_id)
        reward = 1.0 if chosen == int(ctx["user"]["segment"][1]) else 0.0
        if own_decision is None:
            reference.reward(d.event_id, reward, now=float(i))
            continue
        reference.reward(d.event_id, reward, now=float(i))  # keep the reference's choices identical
        learner.replay_step(ctx, ACTIONS).learn(chosen, reward, d.probability, own_decision=own_decision)
    policy = reference if own_decision is None else learner
    return list(policy.replay_step(_contexts(1)[0], ACTIONS).pmf)


def test_own_decisions_learn_like_reward_and_logs_do_not() -> None:
    via_reward = _final_pmf(None)
    own = _final_pmf(True)
    from_log = _final_pmf(False)
    np.testing.assert_allclose(own, via_reward, atol=1e-9)
    assert np.max(np.abs(np.array(from_log) - np.array(via_reward))) > 1e-4
