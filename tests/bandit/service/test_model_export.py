"""Tests of bandit.service.model_export: GET/PUT /model's one-file export, its checks, and older formats."""

from __future__ import annotations

import hashlib
import json

import pytest

from bandit.errors import BanditError
from bandit.policies.personalizer import Personalizer
from bandit.policies.vw import VWPolicy
from bandit.service.model_export import MAGIC_V1, _digest, export_model, import_model
from tests.bandit_helpers import make_actions


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
    # the two VW models and the ridge member (in the mixture only for fresh actions, saved always)
    assert [name for name, _ in header["files"]] == ["model0.vw", "model1.vw", "ridge.npz"]
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
    ridge = ["ridge.npz", sizes[2]]
    for files, message in [
        ([["../model0.vw", sizes[0]], ["model1.vw", sizes[1]], ridge], "never writes"),
        ([["model0.vw", sizes[0]], ["model0.vw", sizes[1]], ridge], "never writes"),
        ([["model0.vw", sizes[0]], ["model1.vw", sizes[1] - 1], ridge], "truncated"),
        ([["model0.vw", sizes[0] + sizes[1]], ridge], "^model0.vw: missing"),
        ([], "never writes"),
    ]:
        with pytest.raises(BanditError, match=message):
            import_model(reheader(files=files))
    with pytest.raises(BanditError, match="checksum"):
        import_model(blob[:-5])
    swapped = reheader(files=[["model1.vw", sizes[0]], ["model0.vw", sizes[1]], ridge])
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
    names = ["model0.vw", "model1.vw", "ridge.npz"]
    parts = [(tmp_path / "m" / name).read_bytes() for name in names]
    files = [[name, len(part)] for name, part in zip(names, parts)]
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


def test_model_file_names_are_matched_whole():
    # '$' matches before a trailing newline: 'model.vw\n' was an acceptable model file name in an export
    # header and in a model folder's listing; names are matched whole (\Z)
    from bandit.policies.model_io import _MODEL_ENTRY
    from bandit.service.model_export import MODEL_NAME

    assert MODEL_NAME.match("model.vw") and MODEL_NAME.match("model1.vw")
    assert not MODEL_NAME.match("model.vw\n") and not _MODEL_ENTRY.match("metadata.json\n")
