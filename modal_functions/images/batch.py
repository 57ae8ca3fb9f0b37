"""A batch of prompts -> one outcome per prompt, concurrently, each failure kept to itself.

Per prompt: cache lookup -> provider call (with the retry layer) -> artifact + cache
entry; or, when there is no provider or the call fails, the fallback policy decides
between a placeholder (degraded) and a coded failure. Identical prompts in one
batch are generated once. Upstream calls run on a small thread pool; the calling
thread only waits, heartbeats and reports progress, so a long backoff never looks
like a stalled job and `ctx` is only ever touched from one thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .gemini import GeminiImages

import logging
import random
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable, Literal

from ..contract.images import GenerateImagesRequest, GenerateImagesResult, ImageItem, ImageStyle
from ..contract.jobs import JobError
from ..errors import INTERNAL, INTERRUPTED, CapabilityError, describe_crash
from ..storage.base import ArtifactStore
from . import placeholder
from .cache import CachedImage, ImageCache, cache_key
from .errors import PROVIDER_NOT_CONFIGURED, UPSTREAM_TIMEOUT, UpstreamError
from .pricing import image_cost
from .prompting import compose_prompt
from .retry import CallStats, RetryPolicy, call_with_retries, wait_seeded_jitter

log = logging.getLogger(__name__)

Fallback = Literal["placeholder", "fail"]
ProgressFn = Callable[..., None]


@dataclass
class ImagesEngine:
    """The warm state of the capability: one provider client, one retry policy, one RNG."""

    provider: GeminiImages | None  # None: no key and no Vertex configured
    model: str
    fallback: Fallback
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    concurrency: int = 4
    sleep: Callable[[float], None] | None = None
    """How a retry waits (tests inject one). None: on the batch's stop event, so an interrupted
    batch (Ctrl-C) wakes every wait at once instead of sitting out a backoff of up to a minute."""
    rng: random.Random = field(default_factory=random.Random)
    heartbeat_every: float = 2.0
    budget_s: float | None = None
    """Seconds one batch may spend upstream (a little under the function's timeout): past it,
    no prompt starts, no retry waits and calls get only the time left, so a slow provider
    ends in per-prompt `upstream_timeout`s and a partial result, not a killed job."""
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self._jitter = wait_seeded_jitter(self.rng, self.policy.jitter_s)

    def generate(
        self,
        request: GenerateImagesRequest,
        store: ArtifactStore,
        *,
        progress: ProgressFn | None = None,
        heartbeat: Callable[[], None] | None = None,
    ) -> GenerateImagesResult:
        model = request.model or self.model
        cache = ImageCache(store)
        deadline = self.clock() + self.budget_s if self.budget_s else None
        groups: dict[str, list[int]] = {}  # cache key -> prompt indices, in order
        for i, prompt in enumerate(request.prompts):
            groups.setdefault(cache_key(prompt, request.style, model), []).append(i)
        total = len(request.prompts)
        outcomes: dict[int, ImageItem] = {}
        if progress:
            progress(0, total, "images", f"generating {total} image(s)")

        workers = max(1, min(self.concurrency, len(groups)))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="images")
        stopped = threading.Event()
        try:
            futures: dict[Future, str] = {
                pool.submit(self._one, request.prompts[idx[0]], request.style, model, key, store, cache, deadline, stopped): key
                for key, idx in groups.items()
            }
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=self.heartbeat_every, return_when=FIRST_COMPLETED)
                if heartbeat:
                    heartbeat()
                for fut in done:
                    key = futures[fut]
                    item = _result_or_internal(fut, request.prompts[groups[key][0]])
                    for n, i in enumerate(groups[key]):
                        # a duplicate prompt shares the artifact, but is charged (and counted) once
                        outcomes[i] = item.model_copy(
                            update={"index": i, "prompt": request.prompts[i]}
                            | ({"cost_usd": 0.0, "attempts": 0} if n else {})
                        )
                    if progress:
                        progress(len(outcomes), total, "images", f"{item.status}: {item.prompt[:60]}")
        except BaseException:
            # Interrupted (Ctrl-C, a cancelled Modal input, a progress sink that raised): the
            # prompts not started yet must not be sent and charged after we stopped caring, and
            # the running ones neither wait out their backoff nor call again (`stopped`).
            stopped.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        images = [outcomes[i] for i in range(total)]
        return summarize(images)

    def _one(
        self,
        prompt: str,
        style: ImageStyle,
        model: str,
        key: str,
        store: ArtifactStore,
        cache: ImageCache,
        deadline: float | None = None,
        stopped: threading.Event | None = None,
    ) -> ImageItem:
        # The cache first: an image already generated is served even where no provider works
        # now (no key on this worker, Vertex credentials missing), instead of a placeholder.
        hit = cache.get(key)
        if hit is not None:
            log.info("image cache hit", extra={"cache_key": key, "model": hit.model})
            return ImageItem(
                index=0, prompt=prompt, status="ok", artifact=hit.artifact, generator="google-genai",
                model=hit.model, width=hit.width, height=hit.height, cached=True,
            )
        if self.provider is None or self.provider.unavailable:
            reason = CapabilityError(
                PROVIDER_NOT_CONFIGURED,
                self.provider.unavailable if self.provider else "no GEMINI_API_KEY and IMAGE_VERTEX is off: no image provider configured",
                http_status=503,
            )
            return self._fallback(prompt, style, reason, attempts=0, store=store, model=model)
        stats = CallStats()
        text = compose_prompt(prompt, style)
        stopped = stopped or threading.Event()

        def attempt():
            if stopped.is_set():  # the batch was interrupted while this prompt waited: nobody wants it now
                raise CapabilityError(INTERRUPTED, "the image batch was interrupted")
            remaining = None if deadline is None else deadline - self.clock()
            if remaining is not None and remaining <= 0:
                raise UpstreamError(UPSTREAM_TIMEOUT, f"batch time budget ({self.budget_s:.0f} s) spent before this call")
            return self.provider.generate_once(
                text, model=model, aspect_ratio=style.aspect_ratio,
                timeout_s=remaining if remaining is not None and remaining < self.provider.timeout_s else None,
            )

        if deadline is not None and self.clock() >= deadline:
            reason = UpstreamError(UPSTREAM_TIMEOUT, f"batch time budget ({self.budget_s:.0f} s) spent before this prompt started")
            return self._fallback(prompt, style, reason, attempts=0, store=store, model=model)
        try:
            image = call_with_retries(
                attempt, policy=self.policy, sleep=self.sleep or stopped.wait, stats=stats, jitter=self._jitter,
                deadline=deadline, clock=self.clock,
            )
        except UpstreamError as e:
            log.warning(
                "image generation failed",
                extra={"code": e.code, "attempts": stats.attempts, "waits": stats.waits, "model": model},
            )
            return self._fallback(prompt, style, e, attempts=stats.attempts, store=store, model=model)
        try:
            ref = store.put_bytes(image.data, image.ext, f"image/{'jpeg' if image.ext == 'jpg' else image.ext}")
        except CapabilityError as e:
            # The provider already charged for this image: the failed item keeps the charge and
            # the attempts, so the batch's totals say what was spent; the error keeps its own
            # code and retryable flag (a storage outage is storage_unavailable, 503, retryable).
            log.warning("generated image could not be stored", extra={"code": e.code, "model": model})
            return ImageItem(
                index=0, prompt=prompt, status="failed", model=model, cost_usd=image_cost(model),
                attempts=stats.attempts, error=e.to_error(),
            )
        cache.put(key, CachedImage(ref, model, image.width, image.height))
        log.info("image generated", extra={"attempts": stats.attempts, "waits": stats.waits, "model": model})
        return ImageItem(
            index=0, prompt=prompt, status="ok", artifact=ref, generator="google-genai", model=model,
            width=image.width, height=image.height, cost_usd=image_cost(model), attempts=stats.attempts,
        )

    def _fallback(
        self, prompt: str, style: ImageStyle, reason: CapabilityError, *, attempts: int, store: ArtifactStore, model: str
    ) -> ImageItem:
        """The policy: a placeholder that says why (degraded), or a failure with the code."""
        error = reason.to_error()
        if self.fallback == "fail":
            return ImageItem(index=0, prompt=prompt, status="failed", model=model, attempts=attempts, error=error)
        ph = placeholder.render_placeholder(prompt, style)
        try:
            ref = store.put_bytes(ph.data, ph.ext, ph.content_type)  # stored, never indexed in the cache
        except CapabilityError as e:  # no placeholder either: say why, and keep the attempts made
            return ImageItem(
                index=0, prompt=prompt, status="failed", model=model, attempts=attempts,
                error=e.to_error().model_copy(update={"message": f"{e.message} (after {error.code}: {error.message})"[:2000]}),
            )
        return ImageItem(
            index=0, prompt=prompt, status="placeholder", artifact=ref, generator="placeholder",
            model=placeholder.MODEL, width=ph.width, height=ph.height, attempts=attempts, error=error,
        )

    def close(self) -> None:
        if self.provider is not None:
            self.provider.close()


def _result_or_internal(fut: Future, prompt: str) -> ImageItem:
    """A bug or a storage outage in one prompt fails that prompt, not the batch."""
    try:
        return fut.result()
    except CapabilityError as e:
        return ImageItem(index=0, prompt=prompt, status="failed", error=e.to_error())
    except Exception as e:
        log.exception("image item crashed")
        return ImageItem(
            index=0, prompt=prompt, status="failed",
            error=JobError(code=INTERNAL, message=describe_crash(e), retryable=False),
        )



def summarize(images: list[ImageItem]) -> GenerateImagesResult:
    placeholders = sum(1 for im in images if im.status == "placeholder")
    failed = sum(1 for im in images if im.status == "failed")
    return GenerateImagesResult(
        images=images,
        succeeded=len(images) - failed,
        failed=failed,
        placeholders=placeholders,
        cost_usd=round(sum(im.cost_usd for im in images), 6),
        degraded=placeholders > 0,
    )


_SLOTS: threading.BoundedSemaphore | None = None
_SLOTS_LOCK = threading.Lock()


def process_slots(limit: int) -> threading.BoundedSemaphore:
    """The per-process cap on upstream calls in flight, shared by every batch in this process."""
    global _SLOTS
    with _SLOTS_LOCK:
        if _SLOTS is None:
            _SLOTS = threading.BoundedSemaphore(limit)
        return _SLOTS
