"""simulations: a simulated audience with known tastes, online simulation, offline replay/OPE.

A library: it may import `imaging` and `bandit`, never `artbandit` (the application layer: CLI,
demo, service, batch jobs). Public names load lazily.
"""

from __future__ import annotations

from safeio.lazy import lazy_exports

_EXPORTS = {
    "load_scenario": "simulations.world.scenarios",
    "Environment": "simulations.world.environment",
    "run_simulation": "simulations.online.runner",
    "run_replay": "simulations.ope",
    "SimulationError": "simulations.errors",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
