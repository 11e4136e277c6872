"""The DSJSON export gives VW's own --dsjson parser exactly the features artbandit's model saw, even
for hostile feature names: trained on the export, VW predicts what `artbandit train` learned."""

from __future__ import annotations

import json

import numpy as np
import vowpalwabbit

from artbandit.cli import main
from bandit import EventLog, VWPolicy, make_policy, vwformat
from bandit.log.export import to_dsjson

SECRET = "test-secret-0123456789"
HOSTILE = ["_label_cost", "_leading", "a b", "x=y", "x", "3", "c:d|e", "%20", "tab\there"]


def _context(rng) -> dict:
    return {
        "user": {
            "_label_cost": float(rng.random()),
            "_leading": ["u", "v"][int(rng.integers(2))],
            "a b": float(rng.random()),
            "x=y": "z",
            "x": "y=z",
            "3": float(rng.integers(3)),
            "seg": ["p q", "_r", "s=t"][int(rng.integers(3))],
        },
        "my ns": {"c:d|e": float(rng.random()), "%20": 1.0, "tab\there": "new\nline"},
    }


def _actions() -> list[dict]:
    return [
        {"id": f"art {i}" if i % 2 else f"_art={i}", "features": {"_b": 0.1 * i, "style": ["x y", "_z"][i % 2]}}
        for i in range(5)
    ]


def _log(path) -> None:
    rng = np.random.default_rng(0)
    with make_policy("uniform", seed=0, log=path, secret=SECRET) as p:
        for t in range(400):
            context = _context(rng)
            d = p.rank(context, _actions(), now=float(t))
            good = (context["user"]["seg"] == "p q") == (d.index % 2 == 0)
            p.reward(d.event_id, 1.0 if good else 0.0, now=float(t))


def _vw_pmf(vw, line: str) -> list[float]:
    examples = vw.parse(line)
    try:
        return list(vw.predict(examples))
    finally:
        vw.finish_example(examples)


def test_vw_trained_on_the_dsjson_export_predicts_what_artbandit_train_learned(tmp_path, capsys):
    log = tmp_path / "e.sqlite"
    _log(log)
    try:
        main(["train", str(log), "-o", str(tmp_path / "model"), "--exploration", "squarecb", "--quiet"])
    except SystemExit as exc:
        assert exc.code in (0, None)
    ours = VWPolicy.load(tmp_path / "model", secret=SECRET)
    with EventLog(log, readonly=True) as source:
        events = list(source.iter_events())
        n = source.export(tmp_path / "e.dsjson", "dsjson", costs="vw")
    assert n == 400
    lines = (tmp_path / "e.dsjson").read_text().splitlines()
    args = ours.vw_args.replace("--no_predict", "")
    vw = vowpalwabbit.Workspace(f"{args} --dsjson")
    for line in lines:
        examples = vw.parse(line)
        vw.learn(examples)
        vw.finish_example(examples)
    rng = np.random.default_rng(7)
    differs = 0
    for _ in range(30):
        context = _context(rng)
        ev = events[0]
        probe = to_dsjson(
            type(ev)(
                **{
                    **ev.__dict__,
                    "context_json": json.dumps(context),
                    "reward": None,
                    "action_ids": [a["id"] for a in _actions()],
                    "action_features": [a["features"] for a in _actions()],
                }
            )
        )
        theirs = _vw_pmf(vw, json.dumps(probe))
        mine = ours._pmf(ours._prepare(context), ours._registry.lookup(_actions()))
        assert np.allclose(theirs, mine, atol=1e-6)  # both in the order of `_multi` / the actions
        differs += not np.allclose(mine, 0.2)
    assert differs > 10  # the models learned something, so agreeing means something


def test_hostile_names_are_escaped_the_same_way_in_text_and_dsjson():
    feats = {name: 1.0 for name in HOSTILE} | {"k": "_v w=x"}
    text = vwformat.format_features(feats, "t").split()
    js = vwformat.dsjson_features(feats)
    # a raw ':' or '=' in a text token can only be the separator (both are escaped inside names)
    assert {t if "=" in t else t.rsplit(":", 1)[0] for t in text} == set(js)
    assert not any(name.startswith("_") for name in js)  # VW's JSON parser drops or reads those
    assert "x%3Dy" in js and "x" in js and "k=%5Fv%20w%3Dx" in js
    assert [vwformat.unescape(vwformat.escape(n)) for n in HOSTILE] == HOSTILE
    assert len({vwformat.escape(n) for n in HOSTILE}) == len(HOSTILE)
    # the two spellings of x=y=z stay apart
    assert vwformat.dsjson_features({"x=y": "z"}) != vwformat.dsjson_features({"x": "y=z"})


def test_cli_export_choices_are_the_librarys(tmp_path):
    from artbandit.cli import bandit as cli_bandit
    from bandit.choices import TRAIN_EXPLORATIONS
    from bandit.log.export import COSTS, EXPORT_FORMATS

    choices = {
        p.name: tuple(p.type.choices)
        for cmd in (cli_bandit.export, cli_bandit.train)
        for p in cmd.params
        if hasattr(p.type, "choices")
    }
    assert choices == {"fmt": EXPORT_FORMATS, "costs": COSTS, "exploration": TRAIN_EXPLORATIONS}
    _log(tmp_path / "e.sqlite")
    try:
        main(
            [
                "log",
                "export",
                str(tmp_path / "e.sqlite"),
                "--costs",
                "vw",
                "--reward-range",
                "0",
                "2",
                "-o",
                str(tmp_path / "e.dsjson"),
                "--quiet",
            ]
        )
    except SystemExit as exc:
        assert exc.code in (0, None)
    records = [json.loads(line) for line in (tmp_path / "e.dsjson").read_text().splitlines()]
    costs = {(r["o"][0]["v"], r["_label_cost"]) for r in records}
    assert costs == {(1.0, 0.5), (0.0, 1.0)}
