"""The error offline evaluation raises for bad input (a log, a mapping, a policy spec).

A subclass of SimulationError so the CLI prints it as one line like every library error, while
callers that evaluate logs (the `evaluate` job, notebooks) can catch OPE problems alone.
"""

from __future__ import annotations

from simulations.errors import SimulationError


class OPEError(SimulationError):
    """A decision log or an evaluation request that cannot be evaluated (the message says where)."""
