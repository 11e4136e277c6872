"""bandit.policies.fresh: the share of the actions offered that were never offered before."""

from __future__ import annotations

import numpy as np
import pytest

from bandit.features import ActionRegistry
from bandit.policies import fresh as fresh_module
from bandit.policies.fresh import WINDOW, FreshActions


def _offer(registry: ActionRegistry, ids: list[str], f: float = 0.0):
    return registry.lookup([{"id": i, "features": {"f": f}} for i in ids])


def test_an_action_is_its_id_and_features_and_each_counts_as_new_once() -> None:
    registry, fresh = ActionRegistry(), FreshActions()
    assert fresh.observe(_offer(registry, ["a", "b", "c", "d"])) == 1.0
    assert fresh.observe(_offer(registry, ["a", "b", "c", "d"])) == 0.0  # the same list again
    assert fresh.observe(_offer(registry, ["d", "c", "b", "a"])) == 0.0  # the same actions, another order
    assert fresh.observe(_offer(registry, ["a", "b", "e", "f"])) == 0.5
    assert fresh.observe(_offer(registry, ["a", "b"], f=1.0)) == 1.0  # the same ids with other features
    # the share is the running mean over the first WINDOW candidate sets
    assert fresh.sets == 5 and fresh.share == pytest.approx((1 + 0 + 0 + 0.5 + 1) / 5)


def test_a_registry_that_starts_over_does_not_make_known_actions_new() -> None:
    """The registry drops its entries when a runaway catalogue outgrows it; the bit table still knows
    the actions (and so does a loaded policy, whose registry starts empty)."""
    fresh = FreshActions()
    fresh.observe(_offer(ActionRegistry(), ["a", "b"]))
    assert fresh.observe(_offer(ActionRegistry(), ["a", "b"])) == 0.0
    again = FreshActions.from_state(*fresh.state())
    assert again.observe(_offer(ActionRegistry(), ["a", "b", "c"])) == pytest.approx(1 / 3)
    assert again.sets == 3 and again.share == pytest.approx((1 + 0 + 1 / 3) / 3)


def test_the_share_follows_the_last_window_of_sets() -> None:
    registry, fresh = ActionRegistry(), FreshActions()
    for t in range(WINDOW):
        fresh.observe(_offer(registry, [f"n{t}"]))  # new every time
    assert fresh.share == pytest.approx(1.0)
    known = _offer(registry, ["n0"])
    for _ in range(WINDOW):
        fresh.observe(known)
    assert fresh.share == pytest.approx((1 - 1 / WINDOW) ** WINDOW, rel=1e-9)  # ~0.37: an exponential window


def test_a_quarter_full_table_starts_over(monkeypatch) -> None:
    monkeypatch.setattr(fresh_module, "TABLE_BITS", 1 << 10)
    registry, fresh = ActionRegistry(), FreshActions()
    for t in range(2000):
        fresh.observe(_offer(registry, [f"n{t}"]))
        assert fresh.ones <= 256
    # new actions taken for known ones (hash collisions) stay under a quarter: the share of a
    # stream of new actions stays above 0.75; and the table keeps its size
    assert fresh.table.nbytes == 128 and fresh.share > 0.8


def test_a_damaged_state_is_refused() -> None:
    meta, table = FreshActions().state()
    with pytest.raises(ValueError, match="wrong size"):
        FreshActions.from_state(meta, table[:-1])
    with pytest.raises(ValueError, match="outside"):
        FreshActions.from_state({**meta, "share": 1.5}, table)
    with pytest.raises(KeyError):
        FreshActions.from_state({}, table)
    assert FreshActions.from_state(meta, np.zeros_like(table)).ones == 0
