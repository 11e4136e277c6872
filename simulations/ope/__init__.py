"""Offline replay and off-policy evaluation: readers, estimators, progressive replay, run_replay.

Names load lazily so `import simulations.ope` stays cheap (no VW, no matplotlib until used).
"""

from __future__ import annotations

from safeio.lazy import lazy_exports

_EXPORTS = {
    "run_replay": "simulations.ope.replay",
    "replay_log": "simulations.ope.replay",
    "open_log": "simulations.ope.readers",
    "ColumnMapping": "simulations.ope.readers",
    "ReplayEvent": "simulations.ope.readers",
    "OPEArrays": "simulations.ope.estimators",
    "Estimate": "simulations.ope.estimators",
    "estimate": "simulations.ope.estimators",
    "ESTIMATORS": "simulations.ope.estimators",
    "OPEError": "simulations.ope.errors",
    "LogSource": "simulations.ope.readers",
    "EventBatch": "simulations.ope.readers",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
