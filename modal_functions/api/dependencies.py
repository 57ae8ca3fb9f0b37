"""Dependencies shared by the routers: settings, the backend, metrics, faults and bearer auth.

All are `async def`: a plain `def` dependency costs a worker-thread hop per request.
Settings come from the app (`create_app(settings)`, default `get_settings()`); when
they differ from the environment's (tests), `create_app` also overrides `get_settings`
for routers that depend on it directly. Tests can swap any of these with
`app.dependency_overrides`.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..errors import UNAUTHORIZED, CapabilityError
from ..runtime.backend import JobBackend
from ..settings import Settings, get_settings

if TYPE_CHECKING:
    from .faults import FaultState
    from .metrics import ApiMetrics

_bearer = HTTPBearer(auto_error=False, description="COMPUTE_TOKEN, sent as `Authorization: Bearer <token>`.")

async def get_app_settings(request: Request) -> Settings:
    settings = getattr(request.app.state, "settings", None)
    return settings if settings is not None else get_settings()


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def get_backend(request: Request) -> JobBackend:
    return request.app.state.backend


async def get_metrics(request: Request) -> "ApiMetrics":
    return request.app.state.metrics


async def get_faults(request: Request) -> "FaultState":
    return request.app.state.faults


BackendDep = Annotated[JobBackend, Depends(get_backend)]
MetricsDep = Annotated["ApiMetrics", Depends(get_metrics)]


def token_matches(presented: str | None, expected: str) -> bool:
    """Constant-time comparison (on bytes, so non-ASCII tokens cannot raise)."""
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


async def require_token(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    """Bearer auth from COMPUTE_TOKEN. With no token configured (local mode only) the API is open.

    An empty COMPUTE_TOKEN is no token, as `check_settings` (and the worker) read it: else the
    server would say it is open and refuse every request with a token nobody can send."""
    if not settings.token:
        return
    presented = credentials.credentials if credentials is not None else None
    if not token_matches(presented, settings.token):
        raise CapabilityError(
            UNAUTHORIZED,
            "missing bearer token" if presented is None else "wrong bearer token",
            http_status=401,
        )
