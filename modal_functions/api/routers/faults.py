"""`/v1/_faults`: fault injection admin (only mounted with COMPUTE_FAULT_INJECTION=1)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from ..dependencies import require_token
from ..errors import COMMON_RESPONSES
from ..faults import FaultSpec, FaultStatus

router = APIRouter(prefix="/v1/_faults", tags=["faults"], dependencies=[Depends(require_token)], responses=COMMON_RESPONSES)


@router.post("", response_model=FaultStatus, summary="Make submissions fail, stall, answer 429 or drop the connection")
def set_fault(spec: FaultSpec, request: Request) -> FaultStatus:
    return request.app.state.faults.set(spec)


@router.get("", response_model=FaultStatus, summary="The current fault")
def get_fault(request: Request) -> FaultStatus:
    return request.app.state.faults.status()
