"""Every non-2xx answer is an `ErrorBody` `{error: {code, message, retryable}}`.

Bad input always maps to a 4xx with a machine-readable code; only a bug gives
`500 internal`, still with a JSON body and one structured log line.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from .. import errors as codes
from ..contract.jobs import ErrorBody
from ..errors import CapabilityError
from ..logs import get_logger

log = get_logger("canvascast.api")

_STATUS_CODES = {
    400: codes.BAD_REQUEST,
    401: codes.UNAUTHORIZED,
    404: codes.NOT_FOUND,
    405: "method_not_allowed",
    409: codes.IDEMPOTENCY_CONFLICT,
    413: codes.PAYLOAD_TOO_LARGE,
    415: "unsupported_media_type",
    422: codes.VALIDATION_ERROR,
    429: codes.CAPACITY,
    503: "upstream_unavailable",
}


def error_response(status: int, code: str, message: str, retryable: bool = False, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "retryable": retryable}}
    return JSONResponse(body, status_code=status, headers=headers)


def _doc(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


# Documented on every route through the routers' `responses=`.
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _doc("`malformed_json`, `unknown_kind` (a kind the contract does not know, or one this server was not started with) or `bad_request`."),
    401: _doc("`unauthorized`: missing or wrong bearer token."),
    413: _doc("`payload_too_large`: body above COMPUTE_MAX_BODY_BYTES."),
    422: _doc("`validation_error`: the body does not match the schema."),
    500: _doc("`internal`: a bug; the server logs it."),
}
NOT_FOUND_RESPONSE = {404: _doc("`not_found`: no such job."),
                      410: _doc("`record_unreadable`: the job was recorded for a kind this server version does not know.")}
LOOKUP_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {**_doc("`not_found`: no job with this idempotency key (of this kind), so a POST with the key would create one. "
                 "`submission_in_progress` (retryable, `Retry-After`): none yet, but this server is handling a POST "
                 "with the key right now; look again."),
          "headers": {"Retry-After": {"description": "`submission_in_progress` only: seconds before looking again.",
                                      "schema": {"type": "integer"}}}},
    410: NOT_FOUND_RESPONSE[410],
    501: _doc("`not_supported`: this backend cannot look jobs up by key."),
}
WARM_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: _doc("`modal_unavailable` (retryable): the lease is recorded but Modal did not apply it yet."),
}
# 503s that depend on the backend: say which ones, so a client knows they are retryable.
UNAVAILABLE_503 = ("`shutting_down` (in-house is draining), `capability_unavailable` (the kind's code cannot load), "
                   "`registry_unavailable` (in-house could not record the job: disk full or failing; nothing was recorded) "
                   "or `modal_unavailable` (Modal refused the spawn); all retryable.")
SUBMIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: _doc("`idempotency_conflict`: the key was used with another input."),
    503: _doc(UNAVAILABLE_503),
    429: {**_doc("`capacity`: the kind's workers and queue are full; retry after `Retry-After` seconds or spill elsewhere."),
          "headers": {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}},
}


def summarize_errors(errors: list[dict[str, Any]]) -> str:
    parts = []
    for e in errors[:5]:
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        parts.append(f"{loc or 'body'}: {e.get('msg', 'invalid')}")
    more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more


def _is_kind_field(loc: tuple[Any, ...]) -> bool:
    return len(loc) >= 2 and loc[0] in ("body", "path", "query") and loc[1] in ("kind", "kinds")


async def _unauthorized(request: Request) -> JSONResponse | None:
    """FastAPI reads a route's JSON body before its dependencies run: a request with a body that does
    not parse would hear about its body before its missing or wrong token. The token comes first."""
    from fastapi.security.utils import get_authorization_scheme_param

    from .dependencies import get_app_settings, require_token, token_matches

    route = request.scope.get("route")
    if not any(getattr(d, "dependency", None) is require_token for d in getattr(route, "dependencies", ())):
        return None
    token = (await get_app_settings(request)).token
    scheme, presented = get_authorization_scheme_param(request.headers.get("authorization"))
    if not token or (scheme.lower() == "bearer" and token_matches(presented, token)):  # empty: open, as require_token
        return None
    return error_response(401, codes.UNAUTHORIZED, "missing bearer token" if not presented else "wrong bearer token")


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    if (refused := await _unauthorized(request)) is not None:
        return refused
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        ctx = next((e.get("ctx") or {} for e in errors if e.get("type") == "json_invalid"), {})
        return error_response(400, codes.MALFORMED_JSON, f"request body is not valid JSON: {ctx.get('error', 'decode error')}")
    if any(e.get("type") == "missing" and tuple(e.get("loc", ())) == ("body",) for e in errors):
        return error_response(400, codes.MALFORMED_JSON, "request body is empty; send a JSON object")
    if any(e.get("loc") == ("body",) and isinstance(e.get("input"), (bytes, bytearray)) for e in errors):
        return error_response(400, codes.MALFORMED_JSON, "request body must be JSON sent with Content-Type: application/json")
    kind_errors = [e for e in errors if e.get("type") == "literal_error" and _is_kind_field(tuple(e.get("loc", ())))]
    if kind_errors:
        bad = kind_errors[0].get("input")
        return error_response(400, codes.UNKNOWN_KIND, f"unknown kind {bad!r}; expected one of {kind_errors[0].get('ctx', {}).get('expected', '')}")
    return error_response(422, codes.VALIDATION_ERROR, summarize_errors(errors))


async def _capability(request: Request, exc: CapabilityError) -> JSONResponse:
    headers = None
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers = {"Retry-After": str(max(1, int(-(-float(retry_after) // 1))))}  # whole seconds, rounded up
    elif exc.http_status == 429:
        headers = {"Retry-After": "1"}
    status = exc.http_status if 400 <= exc.http_status <= 599 else 500
    return error_response(status, exc.code, exc.message, exc.retryable, headers)


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400 and isinstance(exc.__cause__, (ValueError, RecursionError)):
        # FastAPI's "error parsing the body": bad UTF-8, nesting too deep, an integer too long...
        if (refused := await _unauthorized(request)) is not None:
            return refused
        return error_response(400, codes.MALFORMED_JSON, f"request body is not valid JSON: {type(exc.__cause__).__name__}")
    code = _STATUS_CODES.get(exc.status_code, codes.BAD_REQUEST if exc.status_code < 500 else codes.INTERNAL)
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route {request.method} {request.url.path}"
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": allowed_methods(request)}
    return error_response(exc.status_code, code, message, headers=headers)


def allowed_methods(request: Request) -> str:
    """Every method some route serves at this path (Starlette's own 405 names only the first route's)."""
    routes = request.app.router.routes
    allowed = [m for m in _METHODS
               if any(route.matches({**request.scope, "method": m})[0] == Match.FULL for route in routes)]
    return ", ".join(allowed)


_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error", exc_info=exc, extra={"path": request.url.path, "method": request.method, "error_type": type(exc).__name__})
    return error_response(500, codes.INTERNAL, "internal error; see the server log")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(CapabilityError, _capability)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
