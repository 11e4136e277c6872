"""/model: export (ARTBANDIT-MODEL/2 with a checksum), import (checked, non-finite refused),
reset, and /model/properties. On a ranker (`--workers`) an import or reset is checked here, then
applied by the learner (ServeState.change)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from artbandit.serve.deps import JSON, PERSONALIZER, ServeState, raw_body, state
from bandit.errors import BanditError
from bandit.service import wire
from bandit.service.decision_service import model_finite
from bandit.service.model_export import export_model, import_model

router = APIRouter(prefix=PERSONALIZER)


@router.get("/model")
async def get_model(st: ServeState = Depends(state)) -> Response:
    return Response(export_model(st.svc.policy), media_type="application/octet-stream")


@router.put("/model", status_code=204)
async def put_model(request: Request, st: ServeState = Depends(state)) -> Response:
    svc = st.svc
    policy = import_model(
        raw_body(request), reward_range=svc.reward_range, min_probability=svc.min_probability, log=None
    )
    if not model_finite(policy):
        raise BanditError("the uploaded model is non-finite (NaN or infinite state): refused")
    if st.via_stream:
        await st.change("model", upload=raw_body(request))
        return Response(status_code=204)
    await st.committer.publish(svc.replace_policy(policy))
    st.model_replaced()
    return Response(status_code=204)


@router.delete("/model", status_code=204)
async def reset_model(st: ServeState = Depends(state)) -> Response:
    if st.via_stream:
        await st.change("reset_model")
        return Response(status_code=204)
    await st.committer.publish(st.svc.replace_policy(st.svc.new_policy(st.svc.arguments)))
    st.model_replaced()
    return Response(status_code=204)


@router.get("/model/properties")
async def model_properties(st: ServeState = Depends(state)) -> Response:
    policy = st.svc.policy
    return JSON(
        wire.model_properties(
            st.model_created,
            time.time(),
            version=policy.model_version,
            learned=policy.n_learned,
            checkpoint_seq=st.svc.checkpoint_seq,
            vw_arguments=getattr(policy, "vw_args", ""),  # both VW policies have them
        )
    )
