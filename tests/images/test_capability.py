"""generate_images as a capability: partial success, fallback policy, cache, progress, concurrency."""

from __future__ import annotations

import threading

import pytest
from fake_genai_server import error, prompt_blocked, text_only

from modal_functions.capabilities import get_capability
from modal_functions.contract.images import GenerateImagesRequest, GenerateImagesResult, ImageStyle
from modal_functions.errors import CapabilityError
from modal_functions.images import capability
from modal_functions.images.cache import pointer_key
from modal_functions.settings import Settings


def request(*prompts: str, **style) -> GenerateImagesRequest:
    return GenerateImagesRequest(prompts=list(prompts), style=ImageStyle(**style))


def test_registered_under_its_kind():
    cap = get_capability("generate_images")
    assert cap.kind == "generate_images"
    assert cap.request_model is GenerateImagesRequest and cap.result_model is GenerateImagesResult


def test_one_bad_prompt_does_not_sink_the_others(fake, make_engine, ctx):
    fake.when("BLOCKED", prompt_blocked()).when("CHATTY", text_only("a description"))
    prompts = [f"scene {i}" for i in range(8)] + ["BLOCKED scene", "CHATTY scene"]
    result = capability.run(make_engine(), request(*prompts), ctx)

    assert (result.succeeded, result.failed, result.degraded) == (8, 2, False)
    by_prompt = {im.prompt: im for im in result.images}
    assert by_prompt["BLOCKED scene"].error.code == "safety_block"
    assert by_prompt["CHATTY scene"].error.code == "no_image"
    assert [im.index for im in result.images] == list(range(10))  # request order, whatever finished first
    assert all(im.status == "ok" and im.artifact for im in result.images[:8])
    assert len({im.artifact.key for im in result.images[:8]}) == 8
    assert result.cost_usd == pytest.approx(8 * 0.039)


def test_progress_per_image_and_heartbeats(fake, make_engine, ctx):
    capability.run(make_engine(), request("a", "b", "c"), ctx)
    assert ctx.progress_calls[0][:3] == (0, 3, "images")
    assert [c[0] for c in ctx.progress_calls[1:]] == [1, 2, 3]
    assert all(c[1] == 3 and c[2] == "images" for c in ctx.progress_calls)
    assert ctx.heartbeats >= 1


def test_cache_same_prompt_style_model_is_not_charged_twice(fake, make_engine, store, ctx):
    req = request("a lighthouse", palette=["#112233", "#445566"])
    first = capability.run(make_engine(), req, ctx)
    second = capability.run(make_engine(), req, ctx)  # a fresh warm worker: the cache lives in the store

    assert len(fake.requests) == 1
    a, b = first.images[0], second.images[0]
    assert (a.cached, b.cached) == (False, True)
    assert b.artifact.key == a.artifact.key and b.artifact.sha256 == a.artifact.sha256
    assert (b.cost_usd, b.attempts, second.cost_usd) == (0.0, 0, 0.0)
    assert (b.width, b.height, b.model) == (a.width, a.height, a.model)


def test_a_cached_image_is_served_by_a_worker_without_a_provider(fake, make_engine, ctx):
    req = request("a lighthouse")
    made = capability.run(make_engine(), req, ctx).images[0]
    served = capability.run(make_engine(GEMINI_API_KEY=None), req, ctx)  # no key here: it was a placeholder
    item = served.images[0]
    assert (item.status, item.cached, item.artifact.key) == ("ok", True, made.artifact.key)
    assert not served.degraded and len(fake.requests) == 1


@pytest.mark.parametrize(
    "changed",
    [
        request("a lighthouse", palette=["#112233", "#445566"], aspect_ratio="1:1"),
        request("a lighthouse", palette=["#112233"]),
        request("a lighthouse at night", palette=["#112233", "#445566"]),
        GenerateImagesRequest(prompts=["a lighthouse"], style=ImageStyle(palette=["#112233", "#445566"]), model="gemini-3-pro-image-preview"),
    ],
    ids=["aspect", "palette", "prompt", "model"],
)
def test_cache_misses_when_anything_that_shapes_the_image_changes(fake, make_engine, ctx, changed):
    engine = make_engine()
    capability.run(engine, request("a lighthouse", palette=["#112233", "#445566"]), ctx)
    result = capability.run(engine, changed, ctx)
    assert len(fake.requests) == 2 and not result.images[0].cached


def test_broken_cache_entry_is_a_miss(fake, make_engine, store, ctx):
    engine = make_engine()
    first = capability.run(engine, request("x"), ctx)
    pointer = next(k for k in store.objects if k.startswith("renders/image-cache/"))
    store.objects[pointer] = b"{not json"
    again = capability.run(engine, request("x"), ctx)
    assert len(fake.requests) == 2 and not again.images[0].cached
    del store.objects[first.images[0].artifact.key]  # retention removed the image the pointer names
    assert not capability.run(engine, request("x"), ctx).images[0].cached


def test_duplicate_prompts_in_a_batch_are_generated_once(fake, make_engine, ctx):
    result = capability.run(make_engine(), request("same", "other", "same"), ctx)
    assert len(fake.requests) == 2
    assert result.images[0].artifact.key == result.images[2].artifact.key
    assert result.cost_usd == pytest.approx(2 * 0.039)
    assert [im.index for im in result.images] == [0, 1, 2]


def test_concurrency_limit_per_process(fake, make_engine, ctx):
    fake.latency = 0.15
    engine = make_engine(IMAGE_CONCURRENCY=8)
    engine.provider.slots = threading.BoundedSemaphore(2)  # the per-process cap, below the pool size
    result = capability.run(engine, request(*[f"p{i}" for i in range(6)]), ctx)
    assert result.succeeded == 6
    assert fake.max_in_flight == 2


# ## Fallback policy


def test_no_key_defaults_to_placeholders_without_calling_anyone(fake, make_engine, store, ctx):
    engine = make_engine(GEMINI_API_KEY=None)
    assert engine.provider is None and engine.fallback == "placeholder"
    result = capability.run(engine, request("a", "b", aspect_ratio="9:16"), ctx)

    assert fake.requests == []
    assert result.degraded and (result.succeeded, result.placeholders, result.failed) == (2, 2, 0)
    for im in result.images:
        assert im.status == "placeholder" and im.generator == "placeholder" and im.model == "placeholder-v1"
        assert (im.width, im.height) == (720, 1280) and im.cost_usd == 0.0
        assert im.error.code == "provider_not_configured"
        assert store.read_bytes(im.artifact.key)[:8] == b"\x89PNG\r\n\x1a\n"
    assert not any(k.startswith("renders/image-cache/") for k in store.objects)  # never cached


def test_no_key_and_fail_policy_fails_with_a_code(make_engine, ctx):
    engine = make_engine(GEMINI_API_KEY=None, IMAGE_FALLBACK="fail")
    with pytest.raises(CapabilityError) as e:
        capability.run(engine, request("a"), ctx)
    assert e.value.code == "provider_not_configured" and e.value.http_status == 503


def test_key_and_explicit_placeholder_policy_degrades_visibly(fake, make_engine, store, ctx, waits):
    fake.when("DOWN", error(503, "overloaded"))
    engine = make_engine(IMAGE_FALLBACK="placeholder", IMAGE_MAX_ATTEMPTS=2)
    result = capability.run(engine, request("fine", "DOWN scene"), ctx)

    ok, ph = result.images
    assert ok.status == "ok" and ph.status == "placeholder"
    assert ph.error.code == "upstream_unavailable" and ph.attempts == 2
    assert result.degraded and (result.succeeded, result.failed, result.placeholders) == (2, 0, 1)
    again = capability.run(engine, request("DOWN scene"), ctx)
    assert again.images[0].status == "placeholder" and not again.images[0].cached  # never served from cache
    assert not store.exists(pointer_key(_key("DOWN scene", engine)))


def test_key_configured_provider_down_fails_by_default(fake, make_engine, ctx):
    fake.when("", error(500))
    engine = make_engine(IMAGE_MAX_ATTEMPTS=2)
    with pytest.raises(CapabilityError) as e:
        capability.run(engine, request("a", "b"), ctx)
    assert e.value.code == "upstream_unavailable" and not e.value.retryable
    assert "#0: upstream_unavailable" in e.value.message and "#1: upstream_unavailable" in e.value.message


def test_fallback_policy_defaults():
    s = lambda **kw: Settings(_env_file=None, **kw)  # noqa: E731
    assert capability.fallback_policy(s()) == "placeholder"
    assert capability.fallback_policy(s(GEMINI_API_KEY="k")) == "fail"
    assert capability.fallback_policy(s(IMAGE_VERTEX="true")) == "fail"
    assert capability.fallback_policy(s(GEMINI_API_KEY="k", IMAGE_FALLBACK="placeholder")) == "placeholder"
    assert capability.fallback_policy(s(IMAGE_FALLBACK="fail")) == "fail"


def test_storage_failure_fails_that_prompt_only(fake, make_engine, store, ctx):
    real_put = store.put_bytes

    def flaky_put(data, ext, content_type=None):
        if len(data) > 0 and ext == "png" and getattr(flaky_put, "fail_next", True):
            flaky_put.fail_next = False
            raise CapabilityError("storage_unavailable", "disk full", retryable=True, http_status=503)
        return real_put(data, ext, content_type)

    store.put_bytes = flaky_put
    result = capability.run(make_engine(IMAGE_CONCURRENCY=1), request("a", "b"), ctx)
    assert sorted(im.status for im in result.images) == ["failed", "ok"]
    assert next(im for im in result.images if im.status == "failed").error.code == "storage_unavailable"


def test_request_validation():
    with pytest.raises(ValueError):
        GenerateImagesRequest(prompts=[])
    with pytest.raises(ValueError):
        GenerateImagesRequest(prompts=["   "])
    with pytest.raises(ValueError):
        GenerateImagesRequest(prompts=["a"], style={"palette": ["red"]})
    with pytest.raises(ValueError):
        GenerateImagesRequest(prompts=["a"], style={"aspect_ratio": "21:9"})
    with pytest.raises(ValueError):
        GenerateImagesRequest(prompts=["a"], model="../../etc")
    assert GenerateImagesRequest(prompts=["  padded  "]).prompts == ["padded"]


def _key(prompt: str, engine) -> str:
    from modal_functions.images.cache import cache_key

    return cache_key(prompt, ImageStyle(), engine.model)


def test_vertex_without_credentials_fails_each_prompt_with_a_code(monkeypatch, ctx):
    for name in ("GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(ctx.workdir))  # no gcloud ADC file to find

    def no_adc(**kwargs):
        from google.auth.exceptions import DefaultCredentialsError

        raise DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(capability, "make_client", no_adc)
    engine = capability.build_engine(Settings(_env_file=None, IMAGE_VERTEX="true"))
    assert engine.fallback == "fail"
    with pytest.raises(CapabilityError) as e:
        capability.run(engine, request("a"), ctx)
    assert e.value.code == "provider_not_configured" and "default credentials" in e.value.message
