"""The application of `artbandit serve`: Personalizer's REST contract over a DecisionService.

This module only assembles: the routes (artbandit.serve.routes, one module per concern, and the
dashboard's), what they share (artbandit.serve.deps.ServeState), the error answers, and the Gate in
front. Handlers run on the event loop: they parse the body (bandit.service.wire), change the service
in memory, then await the group commit (artbandit.serve.committer) before answering, so every
acknowledged rank or reward is in the journal. Errors are Personalizer's body
`{"error": {"code", "message"}}` with a one-line message: 400 bad input, 404 unknown event,
409 reward after the window closed or a second 'earliest' reward, 413 oversize body, 503 when the
journal cannot be written or the pending events' memory budget is full; never a traceback.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from artbandit.serve.committer import Committer, JournalUnavailable
from artbandit.serve.deps import ServeState, error
from artbandit.serve.fastlane import FastLane
from artbandit.serve.gate import Gate
from artbandit.serve.metrics import Metrics
from artbandit.serve.routes import ROUTERS
from bandit.errors import BanditError, DuplicateRewardError, ExpiredEventError, UnknownEventError
from bandit.service.checks import CapacityError
from bandit.service.decision_service import DecisionService

log = logging.getLogger("artbandit.serve")

# exception -> (status, Personalizer's error code); the first that matches wins (most specific first)
ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (UnknownEventError, 404, "ResourceNotFound"),
    (DuplicateRewardError, 409, "Conflict"),
    (ExpiredEventError, 409, "Conflict"),
    (CapacityError, 503, "ServiceUnavailable"),
    (BanditError, 400, "BadRequest"),
    (JournalUnavailable, 503, "ServiceUnavailable"),
)


def _add_error_handlers(app: FastAPI) -> None:
    for kind, status, code in ERRORS:

        async def answer(request: Request, exc: Exception, status: int = status, code: str = code) -> Response:
            return error(status, code, str(exc))

        app.add_exception_handler(kind, answer)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "ResourceNotFound", 405: "MethodNotAllowed"}.get(exc.status_code, str(exc.status_code))
        return error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> Response:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return error(500, "InternalServerError", "internal error (see the server log)")


def create_app(
    svc: DecisionService,
    *,
    key: bytes | None,
    max_body: int = 1 << 20,
    max_model: int = 256 << 20,
    ready_message: str | None = None,
    durable: bool = False,
    catalog: Any = None,
    dashboard: bool = True,
) -> Gate:
    """The ASGI application: routes inside the Gate (versions, key, body limit, metrics).
    `catalog`: an artbandit.serve.dashboard.catalog.Catalogue (`--catalog`); `dashboard`: mount /dashboard."""
    state = ServeState(svc, Committer(svc, inline=not durable), Metrics(), key=key, catalog=catalog)
    if state.via_stream:  # a ranker publishes its request metrics with its status (GET /metrics)
        svc.status_extras = lambda: {"metrics": state.metrics.to_json()}  # type: ignore[attr-defined]

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        state.committer.start_timer()
        if ready_message:
            print(ready_message, flush=True)
        try:
            yield
        finally:
            await state.committer.stop()
            svc.log.close()
            svc.journal.close()
            svc.state.close()

    app = FastAPI(
        title="artbandit serve",
        version="1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        description="Personalizer-compatible decision service (see docs/serve.md).",
    )
    app.state.serve = state
    _add_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)

    from artbandit.serve.apidocs import mount_docs

    mount_docs(app)  # /docs from local files (no CDN), /openapi.json with bodies and the key scheme
    if dashboard:
        from artbandit.serve.dashboard import mount

        mount(app, state)
    lane = FastLane(state, ERRORS)  # POST rank and reward: the same answers, past FastAPI's routing
    return Gate(app, key=key, max_body=max_body, max_model=max_model, metrics=state.metrics, lane=lane)
