"""The REAL google-genai SDK against a fake generateContent server on 127.0.0.1.

Each test asserts what went over the wire (request bodies, the aspect ratio sent),
how many attempts were made and which waits were taken. Sleeping is injected
(`waits` records instead of sleeping) and jitter is seeded, so waits are exact.
"""

from __future__ import annotations

import io
import random
import socket

import pytest
from fake_genai_server import Reply, broken_image, candidate_blocked, error, huge_image, malformed, prompt_blocked, text_only
from PIL import Image

from modal_functions.contract.images import GenerateImagesRequest, ImageStyle
from modal_functions.errors import CapabilityError
from modal_functions.images import capability

MODEL = "gemini-2.5-flash-image"


def jitters(seed: int, n: int) -> list[float]:
    """The first n jitter draws the engine makes with this seed (uniform [0, 1))."""
    rng = random.Random(seed)
    return [rng.uniform(0, 1.0) for _ in range(n)]


def backoff(seed: int, n: int) -> list[float]:
    """Expected waits with no provider hint: 1, 2, 4 ... seconds plus seeded jitter."""
    return [2**i + j for i, j in enumerate(jitters(seed, n))]


def one(engine, store, prompt="a lighthouse at dawn", **style):
    result = engine.generate(GenerateImagesRequest(prompts=[prompt], style=ImageStyle(**style)), store)
    assert len(result.images) == 1
    return result, result.images[0]


def assert_request(body: dict, prompt: str, aspect: str) -> None:
    assert body["generationConfig"] == {"responseModalities": ["IMAGE"], "imageConfig": {"aspectRatio": aspect}}
    assert body["contents"][0]["role"] == "user"
    assert body["contents"][0]["parts"][0]["text"].startswith(prompt)


def test_success_sends_prompt_style_and_aspect_ratio(fake, make_engine, store, waits):
    engine = make_engine()
    result, item = one(engine, store, "a red fox in snow", aspect_ratio="9:16", palette=["#1F6FEB", "#f2cc60"], avoid=["text"])

    assert item.status == "ok" and item.generator == "google-genai" and item.model == MODEL
    assert (item.attempts, waits) == (1, [])
    assert item.cost_usd == pytest.approx(0.039) and result.cost_usd == pytest.approx(0.039)
    assert not result.degraded and (result.succeeded, result.failed) == (1, 0)
    (req,) = fake.requests
    assert req.path.endswith(f"/models/{MODEL}:generateContent")
    assert req.headers["x-goog-api-key"] == "test-key"
    assert_request(req.body, "a red fox in snow", "9:16")
    text = req.body["contents"][0]["parts"][0]["text"]
    assert "Art style: flat vector illustration." in text
    assert "Colour palette: #1f6feb, #f2cc60." in text and "Do not include: text." in text
    # the stored artifact is the provider's image, at the aspect ratio it was asked for
    png = store.read_bytes(item.artifact.key)
    with Image.open(io.BytesIO(png)) as im:
        assert im.format == "PNG" and im.size == (36, 64) == (item.width, item.height)
    assert item.artifact.content_type == "image/png"


def test_429_with_retry_info_then_success_waits_the_hint(fake, make_engine, store, waits):
    fake.push(error(429, "quota", retry_delay="7s"))
    _, item = one(make_engine(), store, aspect_ratio="1:1")

    assert item.status == "ok"
    assert item.attempts == 2 and len(fake.requests) == 2
    assert waits == [7.0 + jitters(7, 1)[0]]  # the hint beats the 1 s backoff; jitter on top
    assert fake.requests[0].body == fake.requests[1].body
    assert_request(fake.requests[1].body, "a lighthouse at dawn", "1:1")


def test_429_retry_after_header_and_plain_backoff(fake, make_engine, store, waits):
    fake.push(error(429, retry_after="3"), error(429))
    _, item = one(make_engine(seed=11), store)

    assert item.status == "ok" and item.attempts == 3
    j = jitters(11, 2)
    assert waits == [3 + j[0], 2 + j[1]]  # header hint (3 s > 1 s) + jitter, then plain backoff 2 s + jitter


def test_500s_until_retries_exhausted_fail_by_default_with_a_key(fake, make_engine, store, waits):
    for _ in range(4):
        fake.push(error(500, "backend error"))
    engine = make_engine(seed=3)
    assert engine.fallback == "fail"  # a key is configured: never a silent placeholder
    result, item = one(engine, store, aspect_ratio="4:3")

    assert item.status == "failed" and item.artifact is None
    assert item.error.code == "upstream_unavailable" and item.error.retryable
    assert item.attempts == 4 and len(fake.requests) == 4
    assert waits == pytest.approx(backoff(3, 3))
    for req in fake.requests:
        assert_request(req.body, "a lighthouse at dawn", "4:3")
    assert (result.succeeded, result.failed, result.degraded) == (0, 1, False)
    assert store.images() == []


def test_provider_down_job_fails_not_retryable(fake, make_engine, ctx, waits):
    for _ in range(2):
        fake.push(error(503, "unavailable"))
    engine = make_engine(IMAGE_MAX_ATTEMPTS=2)
    with pytest.raises(CapabilityError) as e:
        capability.run(engine, GenerateImagesRequest(prompts=["x"]), ctx)
    assert e.value.code == "upstream_unavailable"
    assert e.value.retryable is False  # retries were spent here; no layer above multiplies them
    assert len(fake.requests) == 2 and len(waits) == 1


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (error(400, "Unsupported aspect ratio"), "upstream_bad_request"),
        (error(403, "API key not valid"), "upstream_auth"),
        (prompt_blocked("SAFETY"), "safety_block"),
        (candidate_blocked("IMAGE_SAFETY"), "safety_block"),
        (candidate_blocked("PROHIBITED_CONTENT"), "safety_block"),
        (text_only("I cannot draw, but imagine a fox."), "no_image"),
        (candidate_blocked("NO_IMAGE"), "no_image"),
        (malformed(), "upstream_malformed"),
        (malformed(b'{"candidates": "not a list"}'), "upstream_malformed"),
        (broken_image(), "upstream_malformed"),
        (huge_image(), "upstream_malformed"),  # 400 MP: refused before decoding, not an internal error
    ],
    ids=["400", "403", "prompt-safety", "image-safety", "prohibited", "text-only", "finish-no-image",
         "bad-json", "wrong-shape", "not-an-image", "huge-image"],
)
def test_clear_codes_without_retry(fake, make_engine, store, waits, reply, code):
    fake.push(reply)
    result, item = one(make_engine(), store, aspect_ratio="16:9")

    assert item.status == "failed" and item.error.code == code and not item.error.retryable
    assert (item.attempts, len(fake.requests), waits) == (1, 1, [])
    assert_request(fake.requests[0].body, "a lighthouse at dawn", "16:9")
    if code == "no_image" and "imagine" in str(reply.body):
        assert "imagine a fox" in item.error.message  # the model's text is surfaced


def test_per_call_timeout_is_retried(fake, make_engine, store, waits):
    # outlives the 2 s per-call timeout; the retry's healthy call (on a fresh client) gets the same 2 s,
    # which a loaded CI machine needs: at 0.3 s, 2 in 100 runs timed the retry out too
    fake.push(Reply(200, {"never": "sent"}, delay=10.0))
    _, item = one(make_engine(IMAGE_TIMEOUT_S=2.0), store)

    assert item.status == "ok" and item.attempts == 2
    assert waits == pytest.approx(backoff(7, 1))
    assert len(fake.requests) == 2


def test_a_reply_that_trickles_in_is_cut_at_the_per_call_timeout(fake, make_engine, store, waits):
    """The SDK's timeout bounds each read, not the call: a body sent a piece every 0.1 s
    (4 s in all) must still end at the 0.5 s limit."""
    from fake_genai_server import image_body

    fake.when("", Reply(200, image_body, drip=0.1))
    _, item = one(make_engine(IMAGE_TIMEOUT_S=0.5, IMAGE_MAX_ATTEMPTS=2), store)
    assert item.status == "failed" and item.error.code == "upstream_timeout" and item.attempts == 2
    assert "0.5 s" in item.error.message


def test_connection_refused_is_retried_then_fails(make_engine, store, waits):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"  # bound, never listening: connection refused
        _, item = one(make_engine(IMAGE_API_BASE_URL=dead, IMAGE_MAX_ATTEMPTS=3, seed=5), store)
    assert item.status == "failed" and item.error.code == "upstream_unavailable" and item.attempts == 3
    assert waits == pytest.approx(backoff(5, 2))


def test_hint_longer_than_we_wait_gives_up_at_once(fake, make_engine, store, waits):
    fake.push(error(429, "daily quota", retry_delay="3600s"))
    _, item = one(make_engine(), store)
    assert item.status == "failed" and item.error.code == "upstream_rate_limited"
    assert (item.attempts, waits) == (1, [])
    assert "asked to wait 3600 s" in item.error.message


def test_sdk_retries_are_switched_off(fake, make_engine, store, waits):
    engine = make_engine(IMAGE_MAX_ATTEMPTS=1)
    opts = engine.provider.client._api_client._http_options
    assert opts.retry_options is not None and opts.retry_options.attempts == 1
    assert opts.timeout == 5000  # per-call timeout, milliseconds
    fake.push(error(503), error(503))
    _, item = one(engine, store)
    assert len(fake.requests) == 1 and item.attempts == 1 and waits == []


def test_vertex_mode_uses_the_publisher_path(fake, make_engine, store):
    _, item = one(make_engine(IMAGE_VERTEX="true", IMAGE_MODEL="gemini-3-pro-image-preview"), store)
    assert item.status == "ok" and item.model == "gemini-3-pro-image-preview"
    assert item.cost_usd == pytest.approx(0.134)
    assert fake.requests[0].path.endswith("/publishers/google/models/gemini-3-pro-image-preview:generateContent")


def test_model_override_per_request(fake, make_engine, store):
    engine = make_engine()
    engine.generate(GenerateImagesRequest(prompts=["p"], model="gemini-2.5-flash-image-preview"), store)
    assert fake.requests[0].path.endswith("/models/gemini-2.5-flash-image-preview:generateContent")


# ## The batch's time budget (a little under the function's timeout)


class Clock:
    """Injected monotonic clock: time passes only when the engine sleeps or a test says so."""

    def __init__(self):
        self.now = 0.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def budgeted(engine, budget_s: float) -> Clock:
    clock = Clock()
    engine.clock, engine.sleep, engine.budget_s = clock, clock.sleep, budget_s
    return clock


def test_no_retry_wait_runs_past_the_budget(fake, make_engine, store):
    fake.when("", error(500))
    engine = make_engine(IMAGE_MAX_ATTEMPTS=10)
    clock = budgeted(engine, 6.0)
    _, item = one(engine, store)
    # waits 1+j and 2+j fit in 6 s; the next (4+j) would end past it, so we stop there
    assert item.status == "failed" and item.error.code == "upstream_unavailable"
    assert item.attempts == 3 and len(fake.requests) == 3
    assert clock.waits == pytest.approx(backoff(7, 2)) and clock.now < 6.0


def test_prompts_not_started_within_the_budget_fail_alone(fake, make_engine, store):
    from fake_genai_server import image_body

    engine = make_engine(IMAGE_CONCURRENCY=1)
    clock = budgeted(engine, 4.0)

    def slow_image(req):  # this call "takes" 5 s of the budget
        clock.now += 5.0
        return image_body(req)

    fake.when("first", Reply(200, slow_image))
    result = engine.generate(GenerateImagesRequest(prompts=["first", "second", "third"]), store)
    first, second, third = result.images
    assert first.status == "ok"
    for late in (second, third):
        assert late.status == "failed" and late.error.code == "upstream_timeout" and late.attempts == 0
        assert "budget" in late.error.message
    assert (result.succeeded, result.failed) == (1, 2) and len(fake.requests) == 1


def test_a_call_gets_only_the_time_left(fake, make_engine, store):
    engine = make_engine(IMAGE_TIMEOUT_S=60)
    one(engine, store, "unbudgeted")
    budgeted(engine, 10.0)
    one(engine, store, "budgeted")
    assert [r.headers["x-server-timeout"] for r in fake.requests] == ["60", "10"]
