"""The HTTP routes of `artbandit serve`: Personalizer's REST contract over a DecisionService.

Handlers run on the event loop: they parse the body (artbandit.serve.wire), change the service in
memory, then await the group commit (artbandit.serve.committer) before answering, so every
acknowledged rank or reward is in the journal. Errors are Personalizer's body
`{"error": {"code", "message"}}` with a one-line message: 400 bad input, 404 unknown event,
409 reward after the window closed or a second 'earliest' reward, 413 oversize body, 503 when the
journal cannot be written or the pending events' memory budget is full; never a traceback.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from artbandit.serve.committer import Committer, JournalUnavailable
from artbandit.serve.gate import Gate, error_body
from artbandit.serve.metrics import Metrics
from artbandit.serve import wire
from bandit.errors import BanditError, DuplicateRewardError, ExpiredEventError, UnknownEventError
from bandit.service.model_export import export_model, import_model
from bandit.service.decision_service import DecisionService, model_finite
from bandit.service.checks import CapacityError
from bandit.service.config import DEFAULT_ARGUMENTS

log = logging.getLogger("artbandit.serve")
P = "/personalizer"


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _error(status: int, code: str, message: str) -> Response:
    return Response(error_body(code, " ".join(str(message).split())), status_code=status,
                    media_type="application/json")


def create_app(svc: DecisionService, *, key: bytes | None, max_body: int = 1 << 20,
               max_model: int = 256 << 20, ready_message: str | None = None, durable: bool = False,
               catalog: Any = None, dashboard: bool = True) -> Gate:
    """The ASGI application: routes inside the Gate (versions, key, body limit, metrics).
    `catalog`: an artbandit.serve.dashboard.catalog.Catalogue (`--catalog`); `dashboard`: mount /dashboard."""
    committer = Committer(svc, inline=not durable)
    metrics = Metrics()
    created: dict[str, Any] = {"time": time.time(), "policy_name": "artbandit"}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        committer.start_timer()
        if ready_message:
            print(ready_message, flush=True)
        try:
            yield
        finally:
            await committer.stop()
            svc.log.close()
            svc.journal.close()
            svc.state.close()

    app = FastAPI(title="artbandit serve", version="1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Personalizer-compatible decision service (see docs/serve.md).")

    @app.exception_handler(UnknownEventError)
    async def _unknown(request: Request, exc: Exception) -> Response:
        return _error(404, "ResourceNotFound", str(exc))

    @app.exception_handler(DuplicateRewardError)
    @app.exception_handler(ExpiredEventError)
    async def _conflict(request: Request, exc: Exception) -> Response:
        return _error(409, "Conflict", str(exc))

    @app.exception_handler(CapacityError)
    async def _full(request: Request, exc: Exception) -> Response:
        return _error(503, "ServiceUnavailable", str(exc))

    @app.exception_handler(BanditError)
    async def _bad(request: Request, exc: Exception) -> Response:
        return _error(400, "BadRequest", str(exc))

    @app.exception_handler(JournalUnavailable)
    async def _unavailable(request: Request, exc: Exception) -> Response:
        return _error(503, "ServiceUnavailable", str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "ResourceNotFound", 405: "MethodNotAllowed"}.get(exc.status_code, str(exc.status_code))
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> Response:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return _error(500, "InternalServerError", "internal error (see the server log)")

    def body(request: Request) -> Any:
        return wire.parse_body(request.scope["state"].get("body", b""))

    async def acknowledged() -> Response:
        """204 once the change just made is committed (the group commit)."""
        await committer.durable()
        return Response(status_code=204)

    # -- decisions -------------------------------------------------------------------------------
    @app.post(P + "/rank", status_code=201)
    async def rank(request: Request) -> Response:
        args = wire.rank_args(body(request))
        if catalog is not None:  # variants named by id alone get their features from the catalogue
            args["actions"] = catalog.fill(args["actions"])
        r = svc.rank(**args)
        await committer.durable()
        return JSON({"ranking": [{"id": a, "probability": p} for a, p in r.ranking],
                     "eventId": r.event_id, "rewardActionId": r.action_id}, status_code=201)

    @app.post(P + "/events/{event_id}/reward", status_code=204)
    async def reward(event_id: str, request: Request) -> Response:
        svc.reward(event_id, wire.reward_value(body(request)))
        return await acknowledged()

    @app.post(P + "/multislot/rank", status_code=201)
    async def multislot_rank(request: Request) -> Response:
        event_id, chosen = svc.rank_multislot(**wire.multislot_args(body(request)))
        await committer.durable()
        return JSON({"slots": [{"id": s, "rewardActionId": a} for s, a in chosen], "eventId": event_id},
                    status_code=201)

    @app.post(P + "/multislot/events/{event_id}/reward", status_code=204)
    async def multislot_reward(event_id: str, request: Request) -> Response:
        svc.reward_multislot(event_id, wire.multislot_rewards(body(request)))
        return await acknowledged()

    def activation(multislot: bool):
        async def activate(event_id: str) -> Response:
            svc.activate(event_id, multislot=multislot)
            return await acknowledged()
        return activate

    for prefix, multislot in (("", False), ("/multislot", True)):
        app.post(P + prefix + "/events/{event_id}/activate", status_code=204,
                 name=prefix.strip("/") + "activate")(activation(multislot))

    # -- configuration ---------------------------------------------------------------------------
    @app.get(P + "/configurations/service")
    async def get_service_config() -> Response:
        return JSON(svc.config.to_wire())

    @app.put(P + "/configurations/service")
    async def put_service_config(request: Request) -> Response:
        svc.set_config(svc.config.updated(body(request), svc.reward_range))
        return JSON(svc.config.to_wire())

    @app.get(P + "/configurations/policy")
    async def get_policy() -> Response:
        return JSON({"name": created["policy_name"], "arguments": svc.arguments})

    @app.put(P + "/configurations/policy")
    async def put_policy(request: Request) -> Response:
        given = body(request)
        arguments = wire.policy_body(given)
        policy = svc.new_policy(arguments)  # checks the allowlist before anything changes
        await committer.publish(svc.replace_policy(policy, arguments))
        created["time"] = time.time()
        created["policy_name"] = given.get("name") or "artbandit"  # answered with the name it was given
        return JSON({"name": created["policy_name"], "arguments": svc.arguments})

    @app.delete(P + "/configurations/policy")
    async def reset_policy() -> Response:
        """Personalizer's reset: the default arguments and a fresh model."""
        arguments = DEFAULT_ARGUMENTS
        await committer.publish(svc.replace_policy(svc.new_policy(arguments), arguments))
        created["time"] = time.time()
        created["policy_name"] = "artbandit"
        return JSON({"name": created["policy_name"], "arguments": svc.arguments})

    @app.get(P + "/model")
    async def get_model() -> Response:
        return Response(export_model(svc.policy), media_type="application/octet-stream")

    @app.put(P + "/model", status_code=204)
    async def put_model(request: Request) -> Response:
        blob = request.scope["state"].get("body", b"")
        policy = import_model(blob, reward_range=svc.reward_range, min_probability=svc.min_probability, log=None)
        if not model_finite(policy):
            raise BanditError("the uploaded model is non-finite (NaN or infinite state): refused")
        await committer.publish(svc.replace_policy(policy))
        created["time"] = time.time()
        return Response(status_code=204)

    @app.delete(P + "/model", status_code=204)
    async def reset_model() -> Response:
        await committer.publish(svc.replace_policy(svc.new_policy(svc.arguments)))
        created["time"] = time.time()
        return Response(status_code=204)

    @app.get(P + "/model/properties")
    async def model_properties() -> Response:
        return JSON({"creationTime": _iso(created["time"]), "lastModifiedTime": _iso(time.time()),
                     "modelVersion": svc.policy.model_version, "eventsLearned": svc.policy.n_learned,
                     "checkpointSeq": svc.checkpoint_seq, "vwArguments": svc.policy.vw_args})

    @app.delete(P + "/logs", status_code=204)
    async def delete_logs() -> Response:
        await committer.checkpoint()
        await committer.background(svc.delete_logs)
        return Response(status_code=204)

    @app.get(P + "/logs/properties")
    async def log_properties() -> Response:
        props = svc.journal.properties()
        return JSON({"dateRange": {"from": _iso(props["first_time"]), "to": _iso(props["last_time"])},
                     "ranks": props["ranks"], "records": props["records"], "bytes": props["bytes"]})

    # -- health ----------------------------------------------------------------------------------
    @app.get("/status")
    async def status() -> Response:
        return JSON({"status": "ok", **svc.status(), "commits": committer.batches})

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(svc.status()), media_type="text/plain; version=0.0.4")

    from artbandit.serve.apidocs import mount_docs

    mount_docs(app)  # /docs from local files (no CDN), /openapi.json with bodies and the key scheme
    if dashboard:
        from artbandit.serve.dashboard import mount

        mount(app, svc, key=key, created=created, committer=committer, catalog=catalog)
    return Gate(app, key=key, max_body=max_body, max_model=max_model, metrics=metrics)
