"""safeio.lazy: a package's public names load on first use, unknown names fail as usual."""

from __future__ import annotations

import sys

import pytest

from safeio.lazy import lazy_exports


def test_a_name_loads_its_module_on_first_use_only() -> None:
    getattr_ = lazy_exports("pkg", {"dumps": "json", "OrderedDict": "collections"})
    import json

    assert getattr_("dumps") is json.dumps
    with pytest.raises(AttributeError, match="module 'pkg' has no attribute 'loads'"):
        getattr_("loads")


def test_simulations_ope_loads_no_estimator_until_asked() -> None:
    import subprocess

    code = (
        "import sys, simulations.ope as o; a = 'simulations.ope.estimators' in sys.modules; "
        "o.estimate; print(a, 'simulations.ope.estimators' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]


def test_a_loaded_name_is_kept_and_submodules_are_found_when_asked() -> None:
    namespace: dict = {}
    getattr_ = lazy_exports("json", {"dumps": "json"}, namespace=namespace, submodules=True)
    import json.decoder

    assert getattr_("dumps") is json.dumps and namespace == {"dumps": json.dumps}
    assert getattr_("decoder") is json.decoder  # json.<submodule>
    with pytest.raises(AttributeError, match="module 'json' has no attribute 'nope'"):
        getattr_("nope")
    with pytest.raises(AttributeError):
        lazy_exports("json", {})("decoder")  # without submodules=True only the exports load
