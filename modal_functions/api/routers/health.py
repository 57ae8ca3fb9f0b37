"""`GET /health`: which backend this is, what it runs, what is warm and how much room is left. No auth."""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter

from ... import __version__
from ...contract.jobs import KINDS, Health
from ...logs import get_logger
from ..dependencies import BackendDep, MetricsDep
from ..errors import COMMON_RESPONSES

router = APIRouter(tags=["health"], responses={500: COMMON_RESPONSES[500]})
log = get_logger("canvascast.api.health")


@router.get("/health", response_model=Health, summary="Liveness, capabilities, warm state and free capacity per kind")
async def health(backend: BackendDep, metrics: MetricsDep) -> Health:
    try:
        capacity = await to_thread.run_sync(backend.capacity)
        status = "ok"
    except Exception as e:  # the API answers even when the backend cannot
        log.warning("capacity unavailable", extra={"error": repr(e)})
        capacity, status = {}, "degraded"
        metrics.capacity_unavailable(backend.name)
    else:
        metrics.set_capacity(backend.name, capacity)
    kinds = [k for k in KINDS if k in capacity] or list(KINDS)
    return Health(
        status=status,
        backend=backend.name,
        version=__version__,
        capabilities=kinds,
        warm={k: c.warm for k, c in capacity.items()},
        capacity=capacity,
    )
