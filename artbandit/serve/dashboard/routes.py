"""The dashboard's routes: login, pages, JSON for the pages, catalogue images.

Every route but the login form and the static files needs a live session (sessions.py); without
one, pages redirect to the login form and JSON answers 401. The key check of the Gate does not
apply under /dashboard (a browser cannot send the key header): the session replaces it.
"""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import Callable
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from artbandit.serve.dashboard.catalog import IMAGE_TYPES
from artbandit.serve.dashboard.evaluations import EvaluationError, Evaluations, last_hours
from artbandit.serve.dashboard.live import LIVE_STATS, LiveStats, attach
from artbandit.serve.dashboard.sessions import COOKIE, Sessions, SharedLogouts
from artbandit.serve.deps import ServeState, body as request_json
from bandit.service import wire
from safeio.errors import one_line

PREFIX = "/dashboard"
STATIC = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
PAGES = {
    "": "overview.html",
    "/title": "title.html",
    "/titles": "titles.html",
    "/evaluations": "evaluations.html",
    "/configuration": "configuration.html",
}
# no inline script, nothing from elsewhere: an injected <script> would not run even if one got in
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
EXPOSURE_FLOOR = 0.01  # the simulator's default floor (simulations.world.scenarios): shown less is "starved"


def _asset(name: str) -> bytes:
    return resources.files("artbandit.serve.dashboard").joinpath("static", name).read_bytes()


def _headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
    }


def _login_page(message: str = "") -> bytes:
    note = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
    return (_asset("login.html").decode("utf-8").replace("<!--MESSAGE-->", note)).encode("utf-8")


def probabilities(svc: Any, context: dict, actions: list[dict]) -> list[float]:
    """The live policy's probabilities for `actions` in `context`, as /rank would answer them now
    (the same exploration mix; Apprentice and LoggingOnly serve the baseline)."""
    pmf = list(svc.policy.replay_step(context, actions).pmf)
    if svc.config.learning_mode != "Online":
        return [1.0 if i == 0 else 0.0 for i in range(len(pmf))]
    x = svc.config.exploration
    if x > 0.0:
        pmf = [(1.0 - x) * p + x / len(pmf) for p in pmf]
    return [float(p) for p in pmf]


def mount(app: FastAPI, state: ServeState, *, extra_status: Callable[[], dict] | None = None) -> LiveStats:
    """Add the dashboard's routes (and Personalizer's /evaluations, /featureimportances, which the
    dashboard runs on) to `app` and start counting the traffic of `state.svc`; returns the counts.
    `state` is what Personalizer's routes share (artbandit.serve.deps): the dashboard changes the
    model through the same group commit and reports the same creation time and policy name."""
    svc, committer, catalog = state.svc, state.committer, state.catalog
    key = state.key
    from simulations.online.metrics import is_starved
    from simulations.reports.plotstyle import BASELINE_COLOUR, POLICY_COLOURS, policy_colour

    if state.via_stream:  # a ranker sees a share of the events and none closing: the learner's counts
        stream = svc.stream  # type: ignore[attr-defined]
        stats = LiveStats(source=lambda: stream.get_upload(LIVE_STATS))
        # a logout on one ranker is refused by every ranker
        sessions = Sessions(key, shared=SharedLogouts(stream.put_upload, stream.get_upload, stream.drop_upload))
    else:
        sessions = Sessions(key)
        stats = LiveStats()
        attach(svc, stats)

    def session_ok(request: Request) -> bool:
        return sessions.valid(request.cookies.get(COOKIE))

    def page(name: str) -> Callable:
        async def show(request: Request) -> Response:
            if not session_ok(request):
                return RedirectResponse(PREFIX + "/login", status_code=303)
            return Response(_asset(name), media_type="text/html; charset=utf-8", headers=_headers())

        return show

    for suffix, name in PAGES.items():
        app.get(PREFIX + suffix, include_in_schema=False, name="dashboard" + suffix.replace("/", "_"))(page(name))

    @app.get(PREFIX + "/login", include_in_schema=False)
    async def login_form() -> Response:
        return Response(_login_page(), media_type="text/html; charset=utf-8", headers=_headers())

    @app.post(PREFIX + "/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        raw = request.scope.get("state", {}).get("body", b"")
        given = parse_qs(raw.decode("utf-8", "replace")).get("key", [""])[0]
        if not sessions.key_matches(given):
            return Response(
                _login_page("Wrong key."), status_code=401, media_type="text/html; charset=utf-8", headers=_headers()
            )
        token = sessions.open()
        resp = RedirectResponse(PREFIX, status_code=303)
        resp.set_cookie(
            COOKIE,
            token,
            max_age=int(sessions.ttl_s),
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "") == "https",
        )
        return resp

    @app.post(PREFIX + "/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        sessions.close(request.cookies.get(COOKIE))
        resp = RedirectResponse(PREFIX + "/login", status_code=303)
        resp.delete_cookie(COOKIE, path=PREFIX)
        return resp

    @app.get(PREFIX + "/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in STATIC:
            return Response(b"not found", status_code=404)
        return Response(
            _asset(name),
            media_type=STATIC[name],
            headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"},
        )

    def denied() -> Response:
        return Response(
            orjson.dumps(wire.error_json("401", "log in at /dashboard/login")),
            status_code=401,
            media_type="application/json",
        )

    def colours() -> dict[str, str]:
        return {
            "live": policy_colour(svc.policy.spec),
            "baseline": BASELINE_COLOUR,
            "uniform": POLICY_COLOURS["uniform"],
        }

    @app.get(PREFIX + "/api/overview", include_in_schema=False)
    async def overview(request: Request) -> Response:
        if not session_ok(request):
            return denied()
        now = time.time()
        st = svc.status()
        oldest = min((ev.time for ev in svc.book.pending.values()), default=None) if len(svc.book) <= 50_000 else None
        return _json(
            {
                "now": now,
                "policy": svc.policy.spec,
                "colours": colours(),
                "modelVersion": st["modelVersion"],
                "modelAgeS": now - state.model_created,
                "learningMode": st["learningMode"],
                "eventsPending": st["eventsPending"],
                "eventsLearned": st["eventsLearned"],
                "oldestPendingS": None if oldest is None else now - oldest,
                "ranks": st["ranks"],
                "rewards": st["rewards"],
                "modelError": st["modelError"],
                "minutes": stats.minutes(),
                "drift": list(stats.drift),
                "catalogue": catalog is not None,
                **(extra_status() if extra_status else {}),
            }
        )

    @app.get(PREFIX + "/api/titles", include_in_schema=False)
    async def titles(request: Request) -> Response:
        if not session_ok(request):
            return denied()
        if catalog is None:
            return _json({"catalogue": False, "titles": []})
        out = []
        for t in catalog.titles.values():
            shown = sum(stats.action(v["id"])[0] for v in t["variants"])
            out.append(
                {
                    "id": t["id"],
                    "title": t["title"],
                    "variants": len(t["variants"]),
                    "impressions": shown,
                    "cover": t["variants"][0]["id"],
                }
            )
        return _json({"catalogue": True, "titles": out})

    @app.get(PREFIX + "/api/title", include_in_schema=False)
    async def title(request: Request, id: str = "") -> Response:
        if not session_ok(request):
            return denied()
        if catalog is None or id not in catalog.titles:
            return Response(
                b'{"error":{"code":"ResourceNotFound","message":"no such title in the catalogue"}}',
                status_code=404,
                media_type="application/json",
            )
        t = catalog.titles[id]
        probs = probabilities(svc, {}, catalog.actions(id))
        rows = [(v, *stats.action(v["id"])) for v in t["variants"]]
        total = sum(shown for _, shown, _, _ in rows)
        variants = []
        for (v, shown, available, reward_sum), p in zip(rows, probs):
            variants.append(
                {
                    "id": v["id"],
                    "aspect": v["aspect"],
                    "treatment": v["treatment"],
                    "probability": p,
                    "impressions": shown,
                    "available": available,
                    "share": shown / available if available else None,
                    "titleShare": shown / total if total else None,
                    "rewardRate": reward_sum / shown if shown else None,
                    "starved": is_starved(shown, available, EXPOSURE_FLOOR),
                    "image": catalog.image(id, v["id"]) is not None,
                }
            )
        ids = [v["id"] for v in t["variants"]]
        segments = []
        for (ns, name, value), counts in sorted(stats.segment_counts(ids), key=lambda kv: kv[0])[:20]:
            seg_probs = probabilities(svc, {ns: {name: value}}, catalog.actions(id))
            shown = sum(n for n, _ in counts.values())
            segments.append(
                {
                    "feature": f"{ns}.{name}",
                    "value": value,
                    "impressions": shown,
                    "variants": [
                        {
                            "id": vid,
                            "probability": p,
                            "share": counts.get(vid, (0, 0.0))[0] / shown if shown else None,
                            "rewardRate": (counts[vid][1] / counts[vid][0]) if counts.get(vid, (0, 0))[0] else None,
                        }
                        for vid, p in zip(ids, seg_probs)
                    ],
                }
            )
        return _json(
            {
                "id": t["id"],
                "title": t["title"],
                "genre": t["genre"],
                "policy": svc.policy.spec,
                "colours": colours(),
                "floor": EXPOSURE_FLOOR,
                "impressions": total,
                "variants": variants,
                "segments": segments,
            }
        )

    @app.get(PREFIX + "/image", include_in_schema=False)
    async def image(request: Request, title: str = "", variant: str = "") -> Response:
        if not session_ok(request):
            return denied()
        path = catalog.image(title, variant) if catalog is not None else None
        if path is None:
            return Response(b"not found", status_code=404)
        return FileResponse(
            path,
            media_type=IMAGE_TYPES[path.suffix.lower()],
            headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=300"},
        )

    @app.get(PREFIX + "/api/configuration", include_in_schema=False)
    async def configuration(request: Request) -> Response:
        if not session_ok(request):
            return denied()
        from bandit.service.config import LEARNING_MODES, REWARD_AGGREGATIONS

        return _json(
            {
                "service": wire.service_config_to_wire(svc.config),
                "choices": {"rewardAggregation": list(REWARD_AGGREGATIONS), "learningMode": list(LEARNING_MODES)},
                "policy": {
                    "name": state.policy_name,
                    "arguments": svc.arguments,
                    "policy": svc.policy.spec,
                    "modelVersion": svc.policy.model_version,
                },
                "limits": {
                    "rewardRange": list(svc.reward_range),
                    "maxActions": svc.max_actions,
                    "pendingBudgetBytes": svc.max_pending_bytes,
                    "minProbability": svc.min_probability,
                    "catalogue": str(catalog.root) if catalog is not None else None,
                },
            }
        )

    @app.post(PREFIX + "/api/configuration", include_in_schema=False)
    async def edit_configuration(request: Request) -> Response:
        """The allowed service settings, as PUT /configurations/service changes them (same checks:
        bandit.service.wire.service_config_from_wire; a bad value is a 400 with its one-line message,
        nothing half-applied)."""
        refused = guarded(request)
        if refused:
            return refused
        config = wire.service_config_from_wire(svc.config, request_json(request), svc.reward_range)
        if state.via_stream:
            await state.change("config", {"body": request_json(request)})
        else:
            svc.set_config(config)
        return _json({"service": wire.service_config_to_wire(svc.config)})

    # -- evaluations: Personalizer's contract (key) and the dashboard's (session) --------------
    evals = Evaluations(svc, state.state_folder)

    def eval_error(exc: EvaluationError) -> Response:
        code = {404: "ResourceNotFound", 409: "Conflict"}.get(exc.status, "BadRequest")
        return _json(wire.error_json(code, one_line(str(exc))), status=exc.status)

    def body_of(request: Request) -> Any:
        raw = request.scope.get("state", {}).get("body", b"")
        if not raw:
            return None
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise EvaluationError("malformed JSON") from None

    async def start_evaluation(request: Request, dashboard: bool = False) -> Response:
        try:
            body = body_of(request)
            if dashboard:
                body = last_hours(body, time.time())
            job = await asyncio.to_thread(evals.create, body)  # a time window counts its events first
        except EvaluationError as exc:
            return eval_error(exc)
        return _json(job, status=201, headers={"Location": f"/personalizer/v1.0/evaluations/{job['id']}"})

    async def create_evaluation(request: Request) -> Response:
        return await start_evaluation(request)

    async def serve_model(blob: bytes) -> None:
        """Make a model export the live model, as PUT /model does (on a ranker: through the learner)."""
        if state.via_stream:
            await state.change("model", upload=blob)
            return
        from bandit.service.model_export import import_model

        policy = await asyncio.to_thread(
            import_model, blob, reward_range=svc.reward_range, min_probability=svc.min_probability, log=None
        )
        await committer.publish(svc.replace_policy(policy))
        state.model_replaced()

    async def apply(eid: str) -> Response:
        # the warm start reads the whole log: its own thread, so neither the loop nor the writer waits
        try:
            blob, winner = await asyncio.to_thread(evals.build_winner, eid)
            await state.newest_snapshot()  # on a ranker: save the learner's newest model, not an older one
            evals.save_previous()  # on the loop, like a checkpoint: the live model is not learning meanwhile
        except EvaluationError as exc:
            return eval_error(exc)
        await serve_model(blob)
        evals.applied = {"evaluation": eid, "policy": winner, "time": state.model_created}
        evals.mark(eid, "optimalPolicyApplied")
        return _json({"applied": winner, "modelVersion": svc.policy.model_version})

    async def rollback() -> Response:
        try:
            blob = await asyncio.to_thread(evals.previous)
        except EvaluationError as exc:
            return eval_error(exc)
        await serve_model(blob)
        evals.applied = None
        return _json({"rolledBack": True, "modelVersion": svc.policy.model_version})

    P = "/personalizer"

    @app.get(P + "/evaluations", summary="List evaluations")
    async def list_evaluations() -> Response:
        return _json([evals.wire(j) for j in reversed(evals.jobs.values())])

    app.post(P + "/evaluations", status_code=201, summary="Create an evaluation (runs in the background)")(
        create_evaluation
    )

    @app.get(P + "/evaluations/{evaluation_id}", summary="Get an evaluation (status, progress, results)")
    async def get_evaluation(evaluation_id: str) -> Response:
        try:
            return _json(evals.wire(evals.get(evaluation_id)))
        except EvaluationError as exc:
            return eval_error(exc)

    @app.delete(P + "/evaluations/{evaluation_id}", status_code=204, summary="Delete an evaluation")
    async def delete_evaluation(evaluation_id: str) -> Response:
        try:
            evals.delete(evaluation_id)
        except EvaluationError as exc:
            return eval_error(exc)
        return Response(status_code=204)

    @app.post(P + "/evaluations/{evaluation_id}/apply", summary="Serve the evaluation's winner (artbandit)")
    async def apply_evaluation(evaluation_id: str) -> Response:
        return await apply(evaluation_id)

    @app.get(P + "/featureimportances", summary="List feature importances (one per completed evaluation)")
    async def list_feature_importances() -> Response:
        return _json(evals.feature_importances())

    def guarded(request: Request) -> Response | None:
        """Session, and for changes a header no cross-site form can send (with SameSite=Strict)."""
        if not session_ok(request):
            return denied()
        if request.method == "POST" and request.headers.get("x-artbandit-dashboard") != "1":
            return _json(wire.error_json("403", "missing X-Artbandit-Dashboard header"), status=403)
        return None

    @app.get(PREFIX + "/api/evaluations", include_in_schema=False)
    async def dash_evaluations(request: Request) -> Response:
        return guarded(request) or _json(
            {
                "evaluations": [evals.wire(j) for j in reversed(evals.jobs.values())],
                "applied": evals.applied,
                "modelVersion": svc.policy.model_version,
                "colours": colours(),
            }
        )

    @app.post(PREFIX + "/api/evaluations", include_in_schema=False)
    async def dash_create(request: Request) -> Response:
        return guarded(request) or await start_evaluation(request, dashboard=True)

    @app.post(PREFIX + "/api/evaluations/{evaluation_id}/apply", include_in_schema=False)
    async def dash_apply(evaluation_id: str, request: Request) -> Response:
        return guarded(request) or await apply(evaluation_id)

    @app.post(PREFIX + "/api/rollback", include_in_schema=False)
    async def dash_rollback(request: Request) -> Response:
        return guarded(request) or await rollback()

    return stats


def _json(content: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(
        orjson.dumps(content),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store", **(headers or {})},
    )
