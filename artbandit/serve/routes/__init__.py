"""Personalizer's REST API of `artbandit serve`, one module per concern.

rank (single- and multi-slot decisions), events (rewards, activation), configuration (service
settings, policy), model (export, import, reset, properties), logs (properties, deletion), status
(/status, /metrics). Each module has a `router`; what they share (the service, the group commit,
the answers) is artbandit.serve.deps. The dashboard's routes are artbandit.serve.dashboard.routes.
"""

from artbandit.serve.routes import configuration, events, logs, model, rank, status

ROUTERS = (rank.router, events.router, configuration.router, model.router, logs.router, status.router)

__all__ = ["ROUTERS"]
