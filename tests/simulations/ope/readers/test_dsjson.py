"""Replay reads artbandit's own DSJSON export back exactly: ids, namespace and feature names and
string values with spaces, `=`, `:`, `%` or a leading `_` are the ones logged (the SQLite reader of
the same log is the reference).
"""

from __future__ import annotations

import numpy as np

from artbandit.cli import main
from bandit import make_policy
from simulations.ope import open_log

SECRET = "test-secret-0123456789"


def _actions() -> list[dict]:
    ids = ["_art=0", "art 1", "a=b=c", "%41:x", "id=4", "plain"]
    return [
        {"id": aid, "features": {"_b": 0.25 * i, "style": ["x y", "_z", "k=v", "50%"][i % 4], "id": f"f{i}"}}
        for i, aid in enumerate(ids)
    ]


def _context(rng) -> dict:
    return {
        "user": {
            "_label_cost": float(rng.random()),
            "_leading": ["u", "v"][int(rng.integers(2))],
            "a b": float(rng.integers(3)),
            "x=y": "z",
            "x": "y=z",
            "seg": ["p q", "_r", "s=t"][int(rng.integers(3))],
        },
        "my ns": {"c:d|e": 2.5, "%20": 1.0, "tab\there": "new\nline"},
        "_hidden": {"k": "_v"},
    }


def test_dsjson_export_reads_back_as_the_sqlite_log(tmp_path):
    rng = np.random.default_rng(3)
    log = tmp_path / "e.sqlite"
    with make_policy("uniform", seed=0, log=log, secret=SECRET) as p:
        for t in range(60):
            d = p.rank(_context(rng), _actions(), now=float(t))
            p.reward(d.event_id, float(t % 3 == 0), now=float(t))
    try:
        main(["log", "export", str(log), "--format", "dsjson", "-o", str(tmp_path / "e.dsjson"), "--quiet"])
    except SystemExit as exc:
        assert exc.code in (0, None)
    want = list(open_log(log))
    src = open_log(tmp_path / "e.dsjson")
    assert src.format == "dsjson"
    got = list(src)
    assert len(got) == len(want) == 60
    for g, w in zip(got, want):
        assert g.action_ids == w.action_ids == [a["id"] for a in _actions()]
        assert g.context == w.context
        assert g.action_features == w.action_features
        assert (g.chosen_index, g.probability, g.reward) == (w.chosen_index, w.probability, w.reward)
    assert got[0].context["_hidden"] == {"k": "_v"} and "a b" in got[0].context["user"]


def test_a_damaged_value_in_artbandit_layout_is_a_one_line_error(tmp_path):
    import json

    import pytest

    from simulations.ope.errors import OPEError

    line = {
        "_label_cost": -1.0,
        "_label_probability": 0.5,
        "_labelIndex": 0,
        "EventId": "e1",
        "c": {"c_user": {"n": "lots"}, "_multi": [{"A": {"id=a%20b": 1}}, {"A": {"id=c": 1}}]},
    }
    (tmp_path / "d.json").write_text(json.dumps(line) + "\n")
    (ev,) = list(open_log(tmp_path / "d.json"))
    assert ev.action_ids == ["a b", "c"]
    with pytest.raises(OPEError, match=r"event 'e1'.*'n' has value 'lots'"):
        ev.context
