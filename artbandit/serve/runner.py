"""Start `artbandit serve`: open the state folder (lock, recovery) first, then uvicorn on it.

The service is opened before the socket is bound, so a locked or damaged state folder is a one-line
error and no port is taken. uvicorn handles SIGTERM/SIGINT: it stops accepting, lets in-flight
requests finish (each waits for its commit), then the app's shutdown drains the journal and writes
a checkpoint.
"""

from __future__ import annotations

import logging

import uvicorn

from artbandit.serve.app import create_app
from artbandit.serve.process import freeze_startup_objects
from artbandit.serve.protocol import HEADER_TIMEOUT_S, KEEP_ALIVE_S, guarded_protocol
from bandit.service.decision_service import DecisionService


def serve(
    state: str,
    *,
    host: str,
    port: int,
    key: bytes | None,
    seed: int = 0,
    reward_range: tuple[float, float] = (0.0, 1.0),
    max_actions: int = 50,
    max_body: int = 1 << 20,
    durable: bool = False,
    quiet: bool = False,
    max_pending_bytes: int = 256 << 20,
    header_timeout_s: float = HEADER_TIMEOUT_S,
    catalog: str | None = None,
) -> None:
    cat = None
    if catalog is not None:  # read before the state folder is locked: a bad catalogue is a one-line error
        from artbandit.serve.dashboard.catalog import Catalogue

        cat = Catalogue(catalog)
    svc = DecisionService(
        state,
        seed=seed,
        reward_range=reward_range,
        max_actions=max_actions,
        durable=durable,
        autocommit=False,
        manual_wal_checkpoints=not durable,
        max_pending_bytes=max_pending_bytes,
    )
    ready = (
        None
        if quiet
        else (
            f"artbandit serve: listening on http://{host}:{port}/personalizer "
            f"(state {state}, {len(svc.book)} open events recovered, {getattr(svc, 'relearned', 0)} re-learned)"
        )
    )
    app = create_app(svc, key=key, max_body=max_body, ready_message=ready, durable=durable, catalog=cat)
    logging.basicConfig(level=logging.WARNING, format="artbandit serve: %(levelname)s %(message)s")
    # idle keep-alive connections close after KEEP_ALIVE_S; request headers must arrive within
    # header_timeout_s (artbandit.serve.protocol: uvicorn has no header-read timeout of its own)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=30,
        server_header=False,
        http=guarded_protocol(header_timeout_s),
        timeout_keep_alive=KEEP_ALIVE_S,
    )
    freeze_startup_objects()
    try:
        uvicorn.Server(config).run()
    finally:
        if svc.state.locked:  # uvicorn never started the app (e.g. port in use): nothing closed it
            svc.log.close()
            svc.journal.close()
            svc.state.close()
