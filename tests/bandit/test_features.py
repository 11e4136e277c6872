"""bandit.features: the action registry's lookups (the same list back for the same actions, and
every change or bad input still seen), checked against a fresh registry's plain lookups."""

from __future__ import annotations

import pytest

from bandit.errors import BanditError
from bandit.features import ActionRegistry, check_context


def _actions() -> list[dict]:
    return [{"id": f"v{i}", "features": {"x": float(i), "s": "a"}} for i in range(4)]


def test_the_same_actions_give_the_same_entries_and_any_change_is_seen():
    """Issue 31's fast path: a rank offering the actions of the last one (equal ids and features,
    same order) gets the same list object, and its log key and JSON are made once; a changed
    feature, a new order, a missing 'features' or a repeated id take the full path as before."""
    reg = ActionRegistry()
    first = reg.lookup(_actions())
    again = reg.lookup(_actions())  # new dicts, equal content
    assert again is first and reg.describe(again) is reg.describe(first)
    key, texts = reg.describe(first)
    assert key == tuple(e.uid for e in first) and texts == [e.json_text for e in first]
    changed = _actions()
    changed[2]["features"]["x"] = 9.0
    entries = reg.lookup(changed)
    assert entries is not first and entries[2].features["x"] == 9.0 and entries[2].uid != first[2].uid
    assert [e.id for e in reg.lookup(_actions()[::-1])] == ["v3", "v2", "v1", "v0"]
    assert reg.lookup([{"id": "v0"}])[0].features == {}  # no features: an action with none
    with pytest.raises(BanditError, match="unique"):
        reg.lookup(_actions() + [_actions()[0]])
    with pytest.raises(BanditError, match="non-empty string"):
        reg.lookup([{"id": 3, "features": {}}])

    class Text(str):
        pass

    with pytest.raises(BanditError, match="non-empty string"):  # a str subclass was refused before too
        reg.lookup([{"id": Text("v1"), "features": {"x": 1.0, "s": "a"}}])
    with pytest.raises(BanditError, match="non-empty list"):
        reg.lookup([])


def test_a_context_with_a_bad_namespace_is_refused_after_the_fast_check():
    assert check_context({"u": {"x": 1}}) == {"u": {"x": 1}}
    for bad in ({"": {"x": 1}}, {"u": [1]}, {1: {"x": 1}}):
        with pytest.raises(BanditError):
            check_context(bad)
