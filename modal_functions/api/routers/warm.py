"""`POST /v1/warm`: a warm lease. Heavy state is preloaded and kept while the lease lives."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ...contract.jobs import WarmLease, WarmRequest
from ..dependencies import BackendDep, require_token
from ..errors import COMMON_RESPONSES, WARM_RESPONSES

router = APIRouter(prefix="/v1/warm", tags=["warm"], dependencies=[Depends(require_token)], responses=COMMON_RESPONSES)


@router.post("", response_model=WarmLease, responses=WARM_RESPONSES, summary="Preload the kinds' heavy state for ttl_s seconds")
def warm(body: WarmRequest, backend: BackendDep) -> WarmLease:
    return backend.warm(list(body.kinds), body.ttl_s, body.min_containers)
