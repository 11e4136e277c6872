"""/status (JSON, open: for load balancers) and /metrics (Prometheus text, behind the key)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from artbandit.serve.deps import JSON, ServeState, state

router = APIRouter()


@router.get("/status")
async def status(st: ServeState = Depends(state)) -> Response:
    return JSON({"status": "ok", **st.svc.status(), "commits": st.committer.batches})


@router.get("/metrics")
async def prometheus(st: ServeState = Depends(state)) -> Response:
    return Response(st.metrics.render(st.svc.status()), media_type="text/plain; version=0.0.4")
