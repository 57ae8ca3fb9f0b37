"""The one place that talks to Google GenAI: one `generate_content` call, classified.

Imagen is shut down; images come from a Gemini image model through `generate_content`
with `response_modalities=["IMAGE"]` and the aspect ratio in `ImageConfig`. The SDK's
own retries are switched off explicitly (`HttpRetryOptions(attempts=1)`): retries
belong to `retry.py`, the single retry layer for upstream errors. Every failure
leaves here as an `UpstreamError` with a code, so the retry policy only has to ask
`.retryable`.
"""

from __future__ import annotations

import asyncio
import io
import threading
import time
import traceback
from concurrent.futures import CancelledError, Future
from contextlib import nullcontext
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from PIL import Image, UnidentifiedImageError

from ..errors import INTERRUPTED, CapabilityError
from .errors import (
    NO_IMAGE,
    SAFETY_BLOCK,
    UPSTREAM_AUTH,
    UPSTREAM_BAD_REQUEST,
    UPSTREAM_MALFORMED,
    UPSTREAM_RATE_LIMITED,
    UPSTREAM_TIMEOUT,
    UPSTREAM_UNAVAILABLE,
    UpstreamError,
)

try:  # google-genai defaults to httpx2 when it is installed; classify both.
    import httpx2
except ImportError:  # pragma: no cover
    httpx2 = None
try:  # Vertex mode authenticates with google-auth (ADC)
    from google.auth import exceptions as auth_errors
except ImportError:  # pragma: no cover
    auth_errors = None

try:  # the SDK's async calls (which this module uses) go through aiohttp when it is installed
    import aiohttp
except ImportError:  # pragma: no cover
    aiohttp = None

_TIMEOUTS = tuple(m.TimeoutException for m in (httpx, httpx2) if m is not None) + (TimeoutError,)
_TRANSPORT = (
    tuple(m.TransportError for m in (httpx, httpx2) if m is not None)
    + ((aiohttp.ClientError,) if aiohttp is not None else ())
    + (ConnectionError,)
)

SAFETY_FINISH_REASONS = frozenset(
    {
        "SAFETY",
        "IMAGE_SAFETY",
        "PROHIBITED_CONTENT",
        "IMAGE_PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "RECITATION",
        "IMAGE_RECITATION",
        "MODEL_ARMOR",
    }
)
_FORMAT_EXT = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif"}
MAX_PIXELS = 40_000_000  # Gemini's largest images are ~4K (16 MP); far beyond that is not a picture we can use


@dataclass(frozen=True)
class GeneratedImage:
    data: bytes
    ext: str
    width: int
    height: int
    model_version: str | None = None


def make_client(
    *, api_key: str | None, vertex: bool = False, base_url: str | None = None, timeout_s: float = 60.0
) -> genai.Client:
    """A google-genai client with a per-call timeout and the SDK's retries OFF."""
    http_options = types.HttpOptions(
        base_url=base_url,
        timeout=max(1, int(timeout_s * 1000)),  # milliseconds
        retry_options=types.HttpRetryOptions(attempts=1),  # one attempt per call: retry.py owns retries
    )
    if vertex:  # API key = Vertex express mode; otherwise project/location/ADC from the environment
        return genai.Client(vertexai=True, api_key=api_key or None, http_options=http_options)
    return genai.Client(api_key=api_key, http_options=http_options)


class GeminiImages:
    """Single-attempt image generation. `slots` bounds concurrent calls in this process.

    `unavailable` is set (and `client` is None) when a provider is configured but its
    client could not be built, e.g. IMAGE_VERTEX without credentials: every prompt then
    fails fast with `provider_not_configured` instead of crashing the worker at load.
    """

    generator = "google-genai"

    def __init__(
        self,
        client: genai.Client | None,
        *,
        slots: threading.Semaphore | None = None,
        unavailable: str | None = None,
        timeout_s: float = 60.0,
    ):
        self.client = client
        self.slots = slots
        self.unavailable = unavailable
        self.timeout_s = timeout_s  # the client's per-call timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_lock = threading.Lock()
        self._calls: set[Future] = set()  # in flight; close() cancels them
        self._closed = False

    def _submit(self, coro) -> Future:
        """Run `coro` on one event loop, on its own thread, for the SDK's async calls:
        `asyncio.wait_for` can end a call at a wall-clock limit (the SDK's timeout only
        bounds each read, so a reply that trickles in never timed out). Under the lock, so
        close() sees every call it has to end, and none starts a new loop after it."""
        with self._loop_lock:
            if self._closed:
                coro.close()
                raise CapabilityError(INTERRUPTED, "the image client is closed: the call was not sent")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="gemini-calls", daemon=True).start()
                self._loop = loop
            future = asyncio.run_coroutine_threadsafe(coro, self._loop)
            self._calls.add(future)
            return future

    @classmethod
    def from_settings(
        cls, *, api_key: str | None, vertex: bool, base_url: str | None, timeout_s: float,
        slots: threading.Semaphore | None = None, make=None,
    ) -> "GeminiImages":
        try:
            client = (make or make_client)(api_key=api_key, vertex=vertex, base_url=base_url, timeout_s=timeout_s)
        except Exception as e:  # bad Vertex setup, missing ADC: report per prompt, with the reason
            return cls(None, slots=slots, unavailable=f"cannot build the google-genai client: {type(e).__name__}: {e}")
        return cls(client, slots=slots, timeout_s=timeout_s)

    def generate_once(
        self, prompt: str, *, model: str, aspect_ratio: str, timeout_s: float | None = None
    ) -> GeneratedImage:
        """One call, ended after `timeout_s` (the batch's remaining time budget) or the
        per-call timeout, whichever is shorter, however the reply trickles in."""
        limit = min(self.timeout_s, timeout_s) if timeout_s is not None else self.timeout_s
        config = types.GenerateContentConfig(
            response_modalities=["IMAGE"],
            image_config=types.ImageConfig(aspect_ratio=aspect_ratio),
            http_options=types.HttpOptions(timeout=max(1, int(timeout_s * 1000))) if timeout_s is not None else None,
        )

        async def call():
            return await asyncio.wait_for(self.client.aio.models.generate_content(model=model, contents=prompt, config=config), limit)

        future = None
        try:
            with self.slots or nullcontext():  # held only while the call is in flight, never while backing off
                future = self._submit(call())
                response = future.result()
        except CancelledError as e:  # close() ended it
            raise CapabilityError(INTERRUPTED, "the image client was closed while the call was in flight") from e
        except CapabilityError:  # closed before the call was sent
            raise
        except TimeoutError as e:  # asyncio.wait_for's limit (asyncio.TimeoutError is TimeoutError)
            raise UpstreamError(UPSTREAM_TIMEOUT, f"no complete reply within {limit:g} s") from e
        except Exception as e:
            raise classify_exception(e) from e
        finally:
            if future is not None:
                with self._loop_lock:
                    self._calls.discard(future)
        return image_from_response(response)

    def close(self) -> None:
        with self._loop_lock:
            self._closed = True
            loop, self._loop = self._loop, None
            calls, self._calls = list(self._calls), set()
        # Cancel the calls in flight first: closing the async client ends a request already
        # on a connection, but not one still connecting (a host that drops packets), and
        # once the loop stops its task would never finish, not even at its own time limit,
        # leaving the caller's thread (which the interpreter joins at exit) waiting forever.
        for future in calls:
            future.cancel()  # wakes the waiting thread now, and cancels the task on the loop
        if loop is not None:
            if self.client is not None:
                try:
                    asyncio.run_coroutine_threadsafe(self.client.aio.aclose(), loop).result(timeout=5)
                except Exception:  # noqa: BLE001 - closing: nothing left to do about it
                    pass
            loop.call_soon_threadsafe(loop.stop)
        if self.client is not None:
            self.client.close()


def classify_exception(e: BaseException) -> BaseException:
    """SDK/transport exception -> UpstreamError with a code (unknown exceptions pass through)."""
    if isinstance(e, UpstreamError):
        return e
    if isinstance(e, genai_errors.APIError):
        status = int(e.code or 0)
        msg = f"provider answered {status}: {e.message or e.status or 'no message'}"
        return _classify_status(status, msg, retry_after_of(e))
    error_status = _error_response_status(e)
    if error_status is not None:  # an error reply whose body said JSON but was not: its status decides
        status, headers = error_status
        hints = _header_hints(headers, None)
        msg = f"provider answered {status} with a body that is not the JSON it declared ({type(e).__name__})"
        return _classify_status(status, msg, max(hints) if hints else None)
    if auth_errors is not None and isinstance(e, auth_errors.TransportError):
        return UpstreamError(UPSTREAM_UNAVAILABLE, f"could not reach Google's token endpoint: {e}")
    if auth_errors is not None and isinstance(e, auth_errors.GoogleAuthError):
        return UpstreamError(UPSTREAM_AUTH, f"Vertex credentials rejected or missing: {type(e).__name__}: {e}")
    if isinstance(e, _TIMEOUTS):
        return UpstreamError(UPSTREAM_TIMEOUT, f"no reply within the per-call timeout ({type(e).__name__})")
    if isinstance(e, _TRANSPORT):
        return UpstreamError(UPSTREAM_UNAVAILABLE, f"connection to the provider failed: {type(e).__name__}: {e}")
    if isinstance(e, (ValueError, genai_errors.UnknownApiResponseError)):  # bad JSON, or JSON of the wrong shape
        return UpstreamError(UPSTREAM_MALFORMED, f"unparseable reply from the provider: {type(e).__name__}: {str(e)[:200]}")
    if isinstance(e, (TypeError, AttributeError)) and _raised_reading_reply(e):
        return UpstreamError(UPSTREAM_MALFORMED, f"reply of a shape the SDK cannot read: {type(e).__name__}: {str(e)[:200]}")
    return e


def _raised_reading_reply(e: BaseException) -> bool:
    """Whether the SDK raised `e` while turning a reply into its response type.

    google-genai does not check JSON types before using them, so valid JSON of the wrong
    shape (a body of `1`, a candidate that is a number, a numeric finishReason) escapes
    as a bare TypeError or AttributeError instead of a validation error. Its reply
    converters are named after the response (`_GenerateContentResponse_from_mldev`,
    `GenerateContentResponse._from_response`); the same error raised anywhere else (our
    code, the SDK building the request) is a bug and stays a crash."""
    return any(
        frame.f_globals.get("__name__", "").startswith("google.genai") and "response" in frame.f_code.co_name.lower()
        for frame, _ in traceback.walk_tb(e.__traceback__)
    )


def _classify_status(status: int, msg: str, hint: float | None) -> UpstreamError:
    if status == 429:
        return UpstreamError(UPSTREAM_RATE_LIMITED, msg, status=status, retry_after=hint)
    if status == 408:
        return UpstreamError(UPSTREAM_TIMEOUT, msg, status=status, retry_after=hint)
    if status in (401, 403):
        return UpstreamError(UPSTREAM_AUTH, msg, status=status)
    if 400 <= status < 500:
        return UpstreamError(UPSTREAM_BAD_REQUEST, msg, status=status)
    return UpstreamError(UPSTREAM_UNAVAILABLE, msg, status=status, retry_after=hint)


def _error_response_status(e: BaseException) -> tuple[int, Any] | None:
    """(status, headers) of the error reply whose body `e` failed to decode, else None.

    With aiohttp, google-genai reads an error reply with `ClientResponse.json()` and only
    falls back to the text on ContentTypeError; a body that is declared JSON but is not
    (a proxy's 503 page, a cut-short body) escapes as a bare JSONDecodeError, without the
    status. The status is still on the response object whose `json()` raised it, so find
    that frame in the traceback (aiohttp's own method, not SDK internals)."""
    if aiohttp is None or not isinstance(e, ValueError):
        return None
    tb = e.__traceback__
    while tb is not None:
        owner = tb.tb_frame.f_locals.get("self")
        if isinstance(owner, aiohttp.ClientResponse) and owner.status >= 400:
            return owner.status, owner.headers
        tb = tb.tb_next
    return None


def _header_hints(headers: Any, now: float | None) -> list[float]:
    """The Retry-After header's wait, as a list (empty without one)."""
    value = headers.get("retry-after") if headers is not None else None
    return list(_parse_retry_after_header(value, now)) if value else []


def retry_after_of(e: genai_errors.APIError, now: float | None = None) -> float | None:
    """The provider's wait hint in seconds: max of the Retry-After header and RetryInfo.retryDelay."""
    hints = _header_hints(getattr(getattr(e, "response", None), "headers", None), now)
    body = e.details.get("error", e.details) if isinstance(e.details, dict) else {}
    details = body.get("details") if isinstance(body, dict) else None
    for d in details if isinstance(details, list) else []:
        if isinstance(d, dict) and str(d.get("@type", "")).endswith("google.rpc.RetryInfo"):
            delay = _parse_duration(d.get("retryDelay"))
            if delay is not None:
                hints.append(delay)
    return max(hints) if hints else None


def _parse_retry_after_header(value: str, now: float | None) -> list[float]:
    value = value.strip()
    try:
        return [max(0.0, float(value))]
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return []
    return [max(0.0, when - (time.time() if now is None else now))]


def _parse_duration(value: Any) -> float | None:
    """google.protobuf.Duration as JSON: "7s", "0.5s", or {"seconds": 7, "nanos": 0}."""
    if isinstance(value, str) and value.endswith("s"):
        try:
            return max(0.0, float(value[:-1]))
        except ValueError:
            return None
    if isinstance(value, dict):
        try:
            return max(0.0, float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9)
        except (TypeError, ValueError):  # a hint we cannot read is no hint
            return None
    return None


def image_from_response(response: types.GenerateContentResponse) -> GeneratedImage:
    """The first image in the reply, or a coded reason why there is none."""
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason:
        reason = _name(feedback.block_reason)
        raise UpstreamError(SAFETY_BLOCK, f"prompt blocked by the provider ({reason})")
    candidates = response.candidates or []
    if not candidates:  # a real reply has candidates, or a blockReason saying why not
        raise UpstreamError(UPSTREAM_MALFORMED, "reply had neither candidates nor a block reason")
    candidate = candidates[0]
    if candidate.content is None and candidate.finish_reason is None:  # the SDK is lenient about shapes
        raise UpstreamError(UPSTREAM_MALFORMED, "reply's candidate had neither content nor a finishReason")
    parts = (candidate.content.parts if candidate.content else None) or []
    for part in parts:
        blob = part.inline_data
        if blob is not None and (blob.mime_type or "").startswith("image/") and blob.data:
            return _decode(blob.data, response.model_version)
    finish = _name(candidate.finish_reason)
    if finish in SAFETY_FINISH_REASONS:
        raise UpstreamError(SAFETY_BLOCK, f"image blocked by the provider (finishReason {finish})")
    text = " ".join(p.text for p in parts if p.text).strip()
    detail = f"; it said: {text[:200]!r}" if text else ""
    raise UpstreamError(NO_IMAGE, f"reply had no image (finishReason {finish or 'none'}){detail}")


def _decode(data: bytes, model_version: str | None) -> GeneratedImage:
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt, (w, h) = img.format, img.size
            if w * h > MAX_PIXELS:  # checked before decoding: a small PNG can decode to gigabytes
                raise UpstreamError(UPSTREAM_MALFORMED, f"reply carried a {w}x{h} image, over {MAX_PIXELS // 1_000_000} megapixels")
            img.verify()  # structure and checksums, but of PNG only: a cut-short JPEG/WebP passes
        with Image.open(io.BytesIO(data)) as img:  # verify() leaves the image unusable: open it again
            img.load()  # decode every pixel (bounded by MAX_PIXELS above): truncated data raises here
    except UpstreamError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise UpstreamError(UPSTREAM_MALFORMED, f"reply carried {len(data)} bytes that are not an image: {e}") from e
    ext = _FORMAT_EXT.get(fmt or "")
    if ext is None:
        raise UpstreamError(UPSTREAM_MALFORMED, f"reply carried an unsupported image format {fmt!r}")
    return GeneratedImage(data=data, ext=ext, width=w, height=h, model_version=model_version)


def _name(value: Any) -> str:
    if value is None:
        return ""
    return str(getattr(value, "value", value))
