"""The compute plane's HTTP API: `create_app()` only assembles routers, middleware and handlers.

Same app in-house (`canvascast serve`) and on Modal (the ASGI front door).
"""

from __future__ import annotations

import importlib
import os
from contextlib import asynccontextmanager
from typing import AsyncIterator

from anyio import CapacityLimiter
from fastapi import FastAPI

from .. import __version__
from ..logs import get_logger
from ..runtime.backend import JobBackend
from ..settings import Settings, get_settings
from .errors import COMMON_RESPONSES, install_error_handlers
from .faults import FaultMiddleware, FaultState
from .limits import BodyLimitMiddleware
from .metrics import ApiMetrics
from .routers import faults, health, jobs, metrics, sync, warm
from .submission import SubmissionsInFlight

log = get_logger("canvascast.api")


class ConfigurationError(RuntimeError):
    pass


def check_settings(settings: Settings, faults: bool = False) -> None:
    """Production refuses to run open (or with fault injection); local mode runs open with a warning."""
    if faults and settings.env == "production":
        raise ConfigurationError("fault injection is for tests; refusing to enable it with CANVASCAST_ENV=production")
    if not settings.token:
        if settings.env == "production":
            raise ConfigurationError("CANVASCAST_ENV=production requires COMPUTE_TOKEN; refusing to start without auth")
        log.warning("COMPUTE_TOKEN is not set: the API is open (local mode only)")


def _env_settings() -> Settings | None:
    try:
        return get_settings()
    except Exception:  # an invalid environment does not matter when settings were given explicitly
        return None


def fault_injection_enabled() -> bool:
    return os.environ.get("COMPUTE_FAULT_INJECTION", "") == "1"


def _artifacts_router():
    """The storage helper's router, once it exists."""
    name = "modal_functions.api.routers.artifacts"
    try:
        return importlib.import_module(name).router
    except ModuleNotFoundError as e:
        if e.name == name:
            return None
        raise


def create_app(settings: Settings | None = None, backend: JobBackend | None = None, *,
               backend_name: str | None = None, faults_enabled: bool | None = None,
               kinds: list[str] | None = None) -> FastAPI:
    settings = settings or get_settings()
    inject = faults_enabled if faults_enabled is not None else fault_injection_enabled()
    check_settings(settings, inject)
    owns_backend = backend is None
    if backend is not None and backend_name and backend_name != backend.name:
        from .backends import RenamedBackend

        backend = RenamedBackend(backend, backend_name)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from ..storage import sweep_spools_at_start

        if swept := sweep_spools_at_start(settings):  # what a crash left; spools in use elsewhere are kept
            log.info("removed spool files a crash left", extra={"removed": swept})
        if app.state.backend is None:
            from .backends import build_backend

            app.state.backend = build_backend(settings, backend_name, kinds)
        add_listener = getattr(app.state.backend, "add_listener", None)
        if add_listener is not None:  # jobs are counted from the backend's own changes, even those nobody polls
            app.state.metrics.listening = add_listener(app.state.metrics.changed) is not False
        log.info("compute plane ready", extra={"backend": app.state.backend.name, "version": __version__})
        try:
            yield
        finally:
            if owns_backend and app.state.backend is not None:
                app.state.backend.close()

    app = FastAPI(
        title="CanvasCast Compute",
        version=__version__,
        summary="Image generation, Whisper alignment and Remotion rendering behind one job contract.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,  # "/v1/jobs/" is a JSON 404, not a 307 to a Location built from the Host header
    )
    app.state.settings = settings
    app.state.backend = backend
    app.state.metrics = ApiMetrics()
    app.state.faults = FaultState()
    app.state.long_waits = CapacityLimiter(128)
    app.state.submissions = SubmissionsInFlight()
    if settings is not _env_settings():  # e.g. tests: routers that depend on get_settings see these too
        app.dependency_overrides[get_settings] = lambda: settings

    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(jobs.router)
    app.include_router(warm.router)
    artifacts = _artifacts_router()
    if artifacts is not None:
        app.include_router(artifacts, responses={k: COMMON_RESPONSES[k] for k in (413, 422, 500)})
    if inject:
        app.include_router(faults.router)
    app.include_router(sync.router)  # last: its POST /v1/{kind} catch-all must not shadow the routes above

    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes, max_upload_bytes=settings.max_upload_bytes)
    if inject:  # outermost: it needs the server's own receive() to drop a connection
        app.add_middleware(FaultMiddleware, state=app.state.faults)
    return app
