"""Models you can trust: verified on load, only learning options from the file, atomic swaps that a
SIGKILL cannot break, and every bad input a one-line BanditError."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import vowpalwabbit

from bandit import BanditError, VWPolicy, make_policy
from bandit.policies.model_io import file_sha256
from tests.bandit_helpers import Stream, make_actions, run

SECRET = "test-secret-0123456789"


def _trained(tmp_path: Path, exploration: str = "squarecb", name: str = "model") -> Path:
    p = VWPolicy(exploration, seed=1, secret=SECRET)
    run(p, 300)
    p.save(tmp_path / name)
    return tmp_path / name


def _edit(folder: Path, change) -> None:
    meta_file = folder / "metadata.json"
    meta = json.loads(meta_file.read_text())
    change(meta)
    meta_file.write_text(json.dumps(meta))


@pytest.mark.parametrize("spec", ["vw:squarecb", "vw:select"])
def test_a_model_folder_with_a_hostile_name_saves_loads_and_continues_exactly(tmp_path, spec):
    """VW splits its argument string on spaces: `-i <path>` must not, and the path must not leak into
    the model's recorded arguments (saved again from the loaded model, then loaded again)."""
    from bandit import load_saved_policy

    folder = tmp_path / "my models --quiet -l 5" / "m 1"
    folder.parent.mkdir()
    stream, actions = Stream(3), make_actions()
    steps = [stream.next() for _ in range(400)]
    clicks = np.random.default_rng(4).random(400)

    def play(policy, a: int, b: int) -> list[int]:
        chosen = []
        for t in range(a, b):
            user_id, context, click_p = steps[t]
            d = policy.rank(context, actions, user_id=user_id, now=float(t))
            policy.reward(d.event_id, float(clicks[t] < click_p[d.index]), now=float(t))
            chosen.append(d.index)
        return chosen

    whole, first = make_policy(spec, seed=2, secret=SECRET), make_policy(spec, seed=2, secret=SECRET)
    straight = play(whole, 0, 400)
    head = play(first, 0, 200)
    first.save(folder)
    again = load_saved_policy(folder, secret=SECRET)
    again.save(folder.parent / "m 2")
    again = load_saved_policy(folder.parent / "m 2", secret=SECRET)
    assert head + play(again, 200, 400) == straight
    probe = steps[0][1]
    assert list(again.predict(probe, actions)) == pytest.approx(list(whole.predict(probe, actions)), abs=1e-9)


def test_a_truncated_model_file_is_refused_at_every_cut(tmp_path):
    folder = _trained(tmp_path)
    data = (folder / "model.vw").read_bytes()
    for fraction in (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99):
        (folder / "model.vw").write_bytes(data[: int(len(data) * fraction)])
        with pytest.raises(BanditError, match="does not match the checksum"):
            VWPolicy.load(folder, secret=SECRET)
    (folder / "model.vw").write_bytes(data)
    assert VWPolicy.load(folder, secret=SECRET).n_learned == 300


def test_a_model_of_another_exploration_or_kind_is_refused_even_with_a_fixed_checksum(tmp_path):
    square = _trained(tmp_path, "squarecb", "square")
    epsilon = _trained(tmp_path, "epsilon", "eps")
    shutil.copy(epsilon / "model.vw", square / "model.vw")
    with pytest.raises(BanditError, match="checksum"):
        VWPolicy.load(square, secret=SECRET)
    _edit(square, lambda m: m.update(model_sha256=file_sha256(square / "model.vw")))
    with pytest.raises(BanditError, match="other VW arguments"):
        VWPolicy.load(square, secret=SECRET)
    eps_args = json.loads((epsilon / "metadata.json").read_text())["vw_model_args"]
    _edit(square, lambda m: m.update(vw_model_args=eps_args))
    with pytest.raises(BanditError, match="does not use the exploration 'squarecb'"):
        VWPolicy.load(square, secret=SECRET)
    # a regression model (VW's default) dropped into the folder
    vw = vowpalwabbit.Workspace("--quiet")
    vw.save(str(square / "model.vw"))
    _edit(square, lambda m: m.update(model_sha256=file_sha256(square / "model.vw")))
    with pytest.raises(BanditError, match="not a contextual-bandit"):
        VWPolicy.load(square, secret=SECRET)


@pytest.mark.parametrize(
    "key, value", [("log", "LOGFILE"), ("secret", "x" * 32), ("id_seed", 3), ("no_such_option", 1)]
)
def test_metadata_cannot_set_run_time_options(tmp_path, key, value):
    folder = _trained(tmp_path)
    target = tmp_path / "elsewhere" / "events.sqlite"
    _edit(folder, lambda m: m["options"].update({key: str(target) if value == "LOGFILE" else value}))
    with pytest.raises(BanditError, match=f"metadata.json sets '{key}', which only the caller may set"):
        VWPolicy.load(folder, secret=SECRET)
    assert not target.parent.exists()


_SAVER = """
import sys
import bandit
p = bandit.VWPolicy(seed=2, secret="test-secret-0123456789")
path = sys.argv[1]
p.save(path)
print("saved", flush=True)
while True:
    p.save(path)
"""


def test_sigkill_during_saves_never_leaves_the_path_without_a_complete_model(tmp_path):
    path = tmp_path / "m"
    for round_ in range(6):
        child = subprocess.Popen([sys.executable, "-c", _SAVER, str(path)], stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "saved"
        time.sleep(0.05 + 0.07 * round_)  # kill at different points of the save loop
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        p = VWPolicy.load(path, secret=SECRET)  # complete and verified
        assert p.predict({"u": {"x": 1.0}}, make_actions()).shape == (8,)
        assert [e.name for e in tmp_path.iterdir()] == ["m"]  # leftovers of the killed save are gone
    # the rename-aside fallback (no RENAME_EXCHANGE): killed between its two renames
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    aside = tmp_path / f".m.abold-{dead}-0000"
    aside.mkdir()
    os.replace(path, aside / "previous")
    p = VWPolicy.load(path, secret=SECRET)
    assert p.n_learned == 0 and [e.name for e in tmp_path.iterdir()] == ["m"]


def _bad_calls(tmp_path: Path):
    """(description, call) for every bad input the library must refuse with a BanditError."""
    vw = VWPolicy(seed=0, secret=SECRET, log=tmp_path / "e.sqlite")
    uniform = make_policy("uniform", secret=SECRET, log=tmp_path / "u.sqlite")
    linucb = make_policy("linucb", secret=SECRET)
    ctx = Stream(0).next()[1]
    acts = make_actions()
    d = vw.rank(ctx, acts, now=0.0)
    nested_ctx = {"user": {"segment": {"deep": 1}}}
    nested_act = [{"id": "a", "features": {"x": {"y": 1}}}, {"id": "b", "features": {}}]
    folder = _trained(tmp_path)
    edits = {
        "bits not a number": lambda m: m["options"].update(bits="abc"),
        "reward_range not a pair": lambda m: m["options"].update(reward_range=5),
        "options not an object": lambda m: m.update(options=[]),
        "state missing": lambda m: m.pop("state"),
        "rng state garbage": lambda m: m["state"].update(rng={"bit_generator": "nope"}),
        "pending garbage": lambda m: m["state"].update(pending=[{"event_id": "x"}]),
        "interactions not letters": lambda m: m["options"].update(interactions=[3]),
    }
    calls = [
        ("unhashable event id", lambda: vw.reward(["x"], 1.0, now=0.0)),
        ("reward as a string", lambda: vw.reward(d.event_id, "1.0", now=0.0)),
        ("reward as a bool", lambda: vw.reward(d.event_id, True, now=0.0)),
        ("reward as bytes", lambda: vw.reward(d.event_id, b"1", now=0.0)),
        ("reward as numpy bool", lambda: vw.reward(d.event_id, np.bool_(True), now=0.0)),
        ("rank at NaN", lambda: vw.rank(ctx, acts, now=float("nan"))),
        ("rank at inf", lambda: vw.rank(ctx, acts, now=float("inf"))),
        ("rank at a string time", lambda: vw.rank(ctx, acts, now="noon")),
        ("reward at NaN", lambda: vw.reward(d.event_id, 1.0, now=float("nan"))),
        ("expire at a string time", lambda: vw.expire(now="x")),
        ("nested context value (vw)", lambda: vw.rank(nested_ctx, acts, now=0.0)),
        ("nested context value (uniform, logged)", lambda: uniform.rank(nested_ctx, acts, now=0.0)),
        ("nested context value (linucb)", lambda: linucb.rank(nested_ctx, acts, now=0.0)),
        ("nested action feature", lambda: vw.rank(ctx, nested_act, now=0.0)),
        ("list action feature", lambda: uniform.rank(ctx, [{"id": "a", "features": {"x": [1]}}], now=0.0)),
        ("learn with a string index", lambda: vw.learn(ctx, acts, "0", 1.0, 0.5)),
        ("learn with a fractional index", lambda: vw.learn(ctx, acts, 1.5, 1.0, 0.5)),
        ("learn with a string probability", lambda: vw.learn(ctx, acts, 0, 1.0, "0.5")),
        ("learn with a string reward", lambda: vw.learn(ctx, acts, 0, "1", 0.5)),
        ("min_probability not a number", lambda: make_policy("vw", min_probability="x")),
        ("bits not a number", lambda: VWPolicy(bits="x")),
        ("epsilon not a number", lambda: VWPolicy("epsilon", epsilon="x")),
        ("load a file, not a folder", lambda: VWPolicy.load(tmp_path / "e.sqlite")),
    ]
    for name, change in edits.items():
        copy = tmp_path / name.replace(" ", "_")
        shutil.copytree(folder, copy)
        _edit(copy, change)
        calls.append((f"edited metadata: {name}", lambda c=copy: VWPolicy.load(c, secret=SECRET)))
    return calls, (vw, uniform, d)


def test_every_bad_input_is_a_one_line_bandit_error(tmp_path):
    calls, (vw, uniform, d) = _bad_calls(tmp_path)
    for name, call in calls:
        with pytest.raises(BanditError) as info:
            call()
        message = str(info.value)
        assert message and "\n" not in message, name
    # nothing was half-done: the event still takes its reward, and no bad row was logged
    vw.reward(d.event_id, 1.0, now=0.0)
    vw.close()
    uniform.close()
    from bandit import EventLog

    assert [e.reward for e in EventLog(tmp_path / "e.sqlite", readonly=True).iter_events()] == [1.0]
    assert len(EventLog(tmp_path / "u.sqlite", readonly=True)) == 0
