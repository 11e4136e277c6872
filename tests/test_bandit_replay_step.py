"""Policy.replay_step: the same pmf as predict, and learning through it equals learn()."""
from __future__ import annotations

import numpy as np
import pytest

from bandit import make_policy
from tests.bandit_helpers import Stream, make_actions


@pytest.mark.parametrize("spec", ["vw:squarecb", "vw:epsilon", "linucb", "ts-per-title"])
def test_replay_step_matches_predict_then_learn(spec: str) -> None:
    a, b = make_policy(spec, seed=3), make_policy(spec, seed=3)
    actions = make_actions()
    stream, rng = Stream(seed=5), np.random.default_rng(9)
    for t in range(400):
        _, context, click_p = stream.next()
        chosen = int(rng.integers(len(actions)))
        reward = float(rng.random() < click_p[chosen])
        expected = a.predict(context, actions)
        a.learn(context, actions, chosen, reward, 1.0 / len(actions))
        step = b.replay_step(context, actions)
        np.testing.assert_allclose(step.pmf, expected, rtol=0, atol=1e-12)
        if t % 3:  # a step need not be learned from
            step.learn(chosen, reward, 1.0 / len(actions))
        else:
            b.learn(context, actions, chosen, reward, 1.0 / len(actions))
    _, context, _ = stream.next()
    np.testing.assert_allclose(b.predict(context, actions), a.predict(context, actions), atol=1e-12)
    assert a.n_learned == b.n_learned == 400
