"""`GET /metrics`: Prometheus text (PRD §10). No auth, like /health."""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter
from fastapi.responses import Response

from ..dependencies import BackendDep, MetricsDep
from ..errors import COMMON_RESPONSES
from ..metrics import CONTENT_TYPE

router = APIRouter(tags=["metrics"], responses={500: COMMON_RESPONSES[500]})


@router.get("/metrics", response_class=Response, summary="Prometheus metrics",
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text exposition format."}})
async def metrics(backend: BackendDep, m: MetricsDep) -> Response:
    def collect() -> None:
        m.refresh(backend.poll)
        try:
            capacity = backend.capacity()
        except Exception:  # the scrape still answers (the counters are ours); canvascast_capacity_up says why gauges are gone
            m.capacity_unavailable(backend.name)
        else:
            m.set_capacity(backend.name, capacity)

    await to_thread.run_sync(collect)
    return Response(m.render(), media_type=CONTENT_TYPE)
