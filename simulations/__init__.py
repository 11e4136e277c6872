"""simulations: a simulated audience with known tastes, online simulation, offline replay/OPE.

A library: it may import `imaging` and `bandit`, never `artbandit` (the application layer: CLI,
demo, service, batch jobs). Public names load lazily.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "load_scenario": "simulations.world.scenarios",
    "Environment": "simulations.world.environment",
    "run_simulation": "simulations.online.runner",
    "run_replay": "simulations.ope",
    "SimulationError": "simulations.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'simulations' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
