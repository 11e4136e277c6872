"""/logs: the journal's properties, and deleting what it holds (open events are kept)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from artbandit.serve.deps import JSON, PERSONALIZER, ServeState, state
from bandit.service import wire

router = APIRouter(prefix=PERSONALIZER)


@router.delete("/logs", status_code=204)
async def delete_logs(st: ServeState = Depends(state)) -> Response:
    if st.via_stream:  # the learner holds the journal and the event log
        await st.change("delete_logs")
        return Response(status_code=204)
    await st.committer.checkpoint()
    await st.committer.background(st.svc.delete_logs)
    return Response(status_code=204)


@router.get("/logs/properties")
async def log_properties(st: ServeState = Depends(state)) -> Response:
    return JSON(wire.log_properties(st.svc.journal.properties()))
