"""Every name the packages advertise (lazily) actually resolves, so `from imaging import X` never breaks."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("package", ["imaging", "bandit", "simulations", "simulations.ope", "artbandit", "safeio"])
def test_every_exported_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__all__
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"
