"""Regression tests for bugs found by hunting: each states the behaviour that was broken.

The upstream ones run the REAL google-genai SDK (aiohttp path) against the fake server;
waits are recorded, never slept, and jitter is seeded.
"""

from __future__ import annotations

import base64
import io
import random
import threading

import pytest
from fake_genai_server import Reply, error
from PIL import Image

from modal_functions.contract.images import GenerateImagesRequest, ImageStyle
from modal_functions.errors import STORAGE_UNAVAILABLE, CapabilityError
from modal_functions.images import capability
from modal_functions.images.errors import UPSTREAM_RATE_LIMITED, UPSTREAM_UNAVAILABLE, UpstreamError
from modal_functions.images.placeholder import render_placeholder
from modal_functions.images.pricing import image_cost
from modal_functions.images.retry import RetryPolicy, call_with_retries

from conftest import MemoryStore

MODEL = "gemini-2.5-flash-image"


def jitters(seed: int, n: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(0, 1.0) for _ in range(n)]


def generate(engine, store, *prompts, **style):
    return engine.generate(GenerateImagesRequest(prompts=list(prompts), style=ImageStyle(**style)), store)


# ## 1. An error reply declared JSON that is not JSON is classified by its status


@pytest.mark.parametrize(
    "status, body, code",
    [
        (503, b"upstream connect error or disconnect/reset before headers", UPSTREAM_UNAVAILABLE),
        (503, b'{"error": {"code": 503, "message": "overl', UPSTREAM_UNAVAILABLE),  # cut short
        (429, b"Too Many Requests", UPSTREAM_RATE_LIMITED),
    ],
)
def test_error_reply_with_a_non_json_json_body_is_retried_by_status(fake, make_engine, store, waits, status, body, code):
    fake.push(*[Reply(status, body, {"Content-Type": "application/json"})] * 4)
    result = generate(make_engine(seed=5), store, "a lighthouse")
    item = result.images[0]

    assert len(fake.requests) == 4  # every attempt made: retried like any 503/429
    assert item.status == "failed" and item.attempts == 4
    assert item.error.code == code and item.error.retryable
    assert str(status) in item.error.message
    assert waits == [2**i + j for i, j in enumerate(jitters(5, 3))]  # plain backoff


def test_error_reply_with_a_non_json_body_honours_retry_after(fake, make_engine, store, waits):
    fake.push(Reply(503, b"<not json>", {"Content-Type": "application/json", "Retry-After": "9"}))
    item = generate(make_engine(seed=5), store, "a lighthouse").images[0]

    assert item.status == "ok" and item.attempts == 2
    assert waits == [9 + jitters(5, 1)[0]]


def test_a_4xx_with_a_non_json_body_is_not_retried(fake, make_engine, store):
    fake.push(Reply(400, b"bad request", {"Content-Type": "application/json"}))
    item = generate(make_engine(), store, "a lighthouse").images[0]
    assert item.status == "failed" and item.attempts == 1
    assert item.error.code == "upstream_bad_request" and not item.error.retryable


def test_a_200_with_broken_json_is_still_malformed(fake, make_engine, store):
    fake.push(Reply(200, b'{"candidates": [{"content": ', {"Content-Type": "application/json"}))
    item = generate(make_engine(), store, "a lighthouse").images[0]
    assert item.error.code == "upstream_malformed" and item.attempts == 1


# ## 2. A storage outage after a billed generation keeps the charge, and stays 503 retryable


class DownStore(MemoryStore):
    """Cache lookups work (nothing cached); storing an image fails as an outage."""

    def put_bytes(self, data, ext, content_type=None):
        if ext != "json":
            raise CapabilityError(STORAGE_UNAVAILABLE, "store down", retryable=True, http_status=503)
        return super().put_bytes(data, ext, content_type)


def test_store_outage_after_generation_keeps_cost_and_attempts(fake, make_engine):
    fake.push(error(503))  # the first prompt takes two (billed once) attempts
    engine = make_engine()
    engine.concurrency = 1  # prompts in order, so the 503 goes to the first one
    result = generate(engine, DownStore(), "a lighthouse", "a fox", "a fox")

    first, fox, dup = result.images
    assert [im.status for im in result.images] == ["failed"] * 3
    assert (first.attempts, fox.attempts, dup.attempts) == (2, 1, 0)
    assert first.cost_usd == fox.cost_usd == image_cost(MODEL) and dup.cost_usd == 0.0
    assert result.cost_usd == pytest.approx(2 * image_cost(MODEL))
    assert first.error.code == STORAGE_UNAVAILABLE and first.error.retryable

    job_error = capability.all_failed(result)
    assert (job_error.code, job_error.http_status, job_error.retryable) == (STORAGE_UNAVAILABLE, 503, True)


def test_store_outage_for_a_placeholder_keeps_attempts(fake, make_engine):
    fake.push(*[error(503)] * 2)
    item = generate(make_engine(IMAGE_FALLBACK="placeholder", IMAGE_MAX_ATTEMPTS=2), DownStore(), "a fox").images[0]
    assert item.status == "failed" and item.attempts == 2 and item.cost_usd == 0.0
    assert item.error.code == STORAGE_UNAVAILABLE and "upstream_unavailable" in item.error.message


def test_upstream_failures_are_still_not_retried_by_the_job(fake, make_engine, store):
    fake.push(*[error(503)] * 4)
    result = generate(make_engine(), store, "a fox")
    job_error = capability.all_failed(result)
    assert (job_error.code, job_error.http_status, job_error.retryable) == (UPSTREAM_UNAVAILABLE, 503, False)


# ## 3. A line break in art_style is drawn on one line, not a crash


@pytest.mark.parametrize("art", ["watercolour\nstyle", "a\rb", "a\x1cb", "a\x1db", "a\x1eb", "a\x85b", "a\u2029b", "a\u2028b"])
def test_line_breaks_in_art_style_render(art):
    ph = render_placeholder("a fox", ImageStyle(art_style=art))
    with Image.open(io.BytesIO(ph.data)) as img:
        img.load()
        assert img.size == (ph.width, ph.height)


def test_art_style_line_break_does_not_fail_the_batch(make_engine, store):
    engine = make_engine(GEMINI_API_KEY=None, IMAGE_API_BASE_URL=None)  # no provider: placeholders
    result = generate(engine, store, "a fox", art_style="ink\nwash")
    assert result.images[0].status == "placeholder" and result.images[0].error.code == "provider_not_configured"


# ## 4. A truncated JPEG is malformed, never stored or cached


def test_truncated_jpeg_is_malformed_and_not_cached(fake, make_engine, store):
    buf = io.BytesIO()
    Image.effect_noise((640, 360), 60).convert("RGB").save(buf, format="JPEG", quality=90)
    cut = buf.getvalue()[: len(buf.getvalue()) // 3]
    inline = {"inlineData": {"mimeType": "image/jpeg", "data": base64.b64encode(cut).decode()}}
    fake.push(Reply(200, {"candidates": [{"content": {"parts": [inline]}, "finishReason": "STOP"}]}))
    engine = make_engine()

    item = generate(engine, store, "a fox").images[0]
    assert item.status == "failed" and item.error.code == "upstream_malformed" and not item.error.retryable
    assert store.images() == []

    again = generate(engine, store, "a fox").images[0]  # not a cache hit: asked again, got the default PNG
    assert again.status == "ok" and not again.cached and len(fake.requests) == 2


# ## 5. A provider hint is a floor, and jitter still spreads the retries


def test_hint_plus_jitter():
    hint_error = UpstreamError(UPSTREAM_RATE_LIMITED, "quota", status=429, retry_after=7.0)
    calls = iter([hint_error])

    def fn():
        e = next(calls, None)
        if e is not None:
            raise e
        return "ok"

    waits: list[float] = []
    assert call_with_retries(fn, policy=RetryPolicy(), rng=random.Random(3), sleep=waits.append) == "ok"
    assert waits == [7.0 + jitters(3, 1)[0]]


def test_prompts_rate_limited_together_do_not_retry_in_lockstep(fake, make_engine, store, waits):
    fake.push(*[error(429, "quota", retry_delay="7s") for _ in range(4)])
    engine = make_engine(seed=7, IMAGE_CONCURRENCY=4)
    # No prompt retries before all four got their 429 (so each gets exactly one of them).
    together = threading.Barrier(4)

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        together.wait(timeout=10)

    engine.sleep = sleep
    result = generate(engine, store, "a", "b", "c", "d")

    assert all(im.status == "ok" for im in result.images)
    assert len(waits) == 4 and all(7.0 <= w < 8.0 for w in waits)
    assert sorted(waits) == sorted(7.0 + j for j in jitters(7, 4))  # four distinct seeded jitters
    assert len(set(waits)) == 4
