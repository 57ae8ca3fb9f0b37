"""# generate_images: prompts + a style -> one image artifact per prompt

Images come from a Gemini image model through google-genai's `generate_content`
(Imagen is shut down). Everything that decides *how* lives in small modules:

- `gemini.py`: one call, the SDK's own retries off, every failure given a code;
- `retry.py`: the single retry layer for upstream errors (tenacity);
- `cache.py`: same prompt + style + model -> same artifact, no second charge;
- `placeholder.py`: the local, deterministic stand-in (always `degraded`);
- `batch.py`: concurrency, per-prompt isolation, progress and heartbeats.

This module only wires settings to them and states the job-level rule: a batch in
which at least one prompt produced an image succeeds (with per-prompt statuses); a
batch in which none did fails with the first prompt's code.

The same plain `load`/`run` run in the in-house pool and on a Modal CPU container
(it only calls an API: no GPU).
"""

from __future__ import annotations

import logging

from ..capability import Capability, TaskContext
from ..config import get_config
from ..contract.images import GenerateImagesRequest, GenerateImagesResult
from ..errors import CapabilityError
from ..settings import Settings, get_settings
from .batch import Fallback, ImagesEngine, process_slots
from .errors import RETRYABLE, http_status_for
from .retry import RetryPolicy

log = logging.getLogger(__name__)


def provider_configured(settings: Settings) -> bool:
    return bool(settings.gemini_api_key) or settings.image_vertex


def fallback_policy(settings: Settings) -> Fallback:
    """IMAGE_FALLBACK wins; otherwise placeholder for the keyless local demo, fail when a provider is set."""
    if settings.image_fallback:
        return settings.image_fallback
    return "fail" if provider_configured(settings) else "placeholder"


BUDGET_MARGIN_S = 20.0  # left for storing the last images and reporting, before the hard timeout


def batch_budget_s() -> float | None:
    """The function's hard timeout (modal.toml) minus a margin: how long a batch may spend upstream."""
    try:
        timeout = get_config().function("generate_images").timeout
    except Exception as e:  # no modal.toml: no budget beyond per-call timeouts and attempts
        log.warning("no generate_images timeout in modal.toml; batch time budget off", extra={"error": str(e)})
        return None
    return max(5.0, timeout - BUDGET_MARGIN_S)


def make_client(*args, **kwargs):
    """google-genai is imported only when a provider is configured (it costs seconds to import)."""
    from .gemini import make_client as make

    return make(*args, **kwargs)


def build_engine(settings: Settings, **overrides) -> ImagesEngine:
    """The engine for these settings; `overrides` replace engine fields (tests inject sleep, rng, slots)."""
    slots = overrides.pop("slots", None)
    provider = None
    if provider_configured(settings):
        from .gemini import GeminiImages

        provider = GeminiImages.from_settings(
            api_key=settings.gemini_api_key,
            vertex=settings.image_vertex,
            base_url=settings.image_api_base_url,
            timeout_s=settings.image_timeout_s,
            slots=slots or process_slots(settings.image_concurrency),
            make=make_client,  # looked up at call time, so tests can share clients
        )
    kwargs = dict(
        provider=provider,
        model=settings.image_model,
        fallback=fallback_policy(settings),
        policy=RetryPolicy(max_attempts=settings.image_max_attempts),
        concurrency=settings.image_concurrency,
        budget_s=batch_budget_s(),
    )
    kwargs.update(overrides)
    return ImagesEngine(**kwargs)


def load() -> ImagesEngine:
    settings = get_settings()
    engine = build_engine(settings)
    log.info(
        "images ready",
        extra={"provider": "google-genai" if engine.provider else None, "model": engine.model, "fallback": engine.fallback},
    )
    return engine


def run(engine: ImagesEngine, request: GenerateImagesRequest, ctx: TaskContext) -> GenerateImagesResult:
    result = engine.generate(request, ctx.store, progress=ctx.progress, heartbeat=ctx.heartbeat)
    if result.succeeded == 0:
        raise all_failed(result)
    return result


def all_failed(result: GenerateImagesResult) -> CapabilityError:
    """No prompt produced an image: the job fails with the first prompt's code.

    Not `retryable` for upstream errors: this capability already spent its retries on
    them (docs/retry-layering.md), so no layer above may multiply them. Any other error
    (a storage outage while storing the images) keeps its own flag: nothing retried it.
    """
    errors = [im.error for im in result.images if im.error is not None]
    first = errors[0] if errors else None
    codes = sorted({e.code for e in errors})
    summary = "; ".join(f"#{im.index}: {im.error.code}: {im.error.message[:160]}" for im in result.images if im.error)[:1000]
    err = CapabilityError(
        first.code if first else "no_image",
        f"no image generated for {len(result.images)} prompt(s) ({', '.join(codes)}): {summary}",
        retryable=bool(first and first.retryable and first.code not in RETRYABLE),
        http_status=http_status_for(first.code) if first else 502,
    )
    return err


def close(engine: ImagesEngine) -> None:
    engine.close()


CAPABILITY = Capability(
    kind="generate_images",
    request_model=GenerateImagesRequest,
    result_model=GenerateImagesResult,
    load=load,
    run=run,
    close=close,
)
