"""Bad timelines get a clear 4xx with a code before any render starts."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from modal_functions.capabilities import get_capability
from modal_functions.contract.render import RenderVideoRequest
from modal_functions.errors import CapabilityError
from modal_functions.render.timeline import dimensions, geometry, ms_to_frame

CAP = get_capability("render_video")


def body(**timeline) -> dict:
    base = {
        "durationMs": 3000,
        "scenes": [
            {"image": "artifacts/x.png", "startMs": 0, "endMs": 1500},
            {"image": "artifacts/y.png", "startMs": 1500, "endMs": 3000},
        ],
    }
    base.update(timeline)
    return {"timeline": base}


def rejected(b: dict) -> CapabilityError:
    request = RenderVideoRequest.model_validate(b)
    with pytest.raises(CapabilityError) as e:
        from modal_functions.render.timeline import check_timeline

        check_timeline(request.timeline)
    assert 400 <= e.value.http_status < 500
    return e.value


def test_overlapping_scenes_are_rejected():
    err = rejected(body(scenes=[
        {"image": "a.png", "startMs": 0, "endMs": 2000},
        {"image": "b.png", "startMs": 1500, "endMs": 3000},
    ]))
    assert err.code == "invalid_timeline" and "overlap" in err.message and "scenes[1]" in err.message


def test_scene_ending_before_it_starts_is_rejected():
    err = rejected(body(scenes=[{"image": "a.png", "startMs": 1000, "endMs": 900}]))
    assert err.code == "invalid_timeline" and "scenes[0]" in err.message


def test_scene_past_the_duration_is_rejected():
    err = rejected(body(scenes=[{"image": "a.png", "startMs": 0, "endMs": 3500}]))
    assert err.code == "invalid_timeline" and "durationMs" in err.message


def test_overlapping_caption_words_are_rejected():
    err = rejected(body(captions=[
        {"text": "one", "startMs": 100, "endMs": 600},
        {"text": "two", "startMs": 500, "endMs": 900},
    ]))
    assert err.code == "invalid_timeline" and "captions[1]" in err.message


def test_scene_image_reused_as_narration_is_rejected():
    err = rejected(body(narration="artifacts/x.png"))
    assert err.code == "invalid_timeline" and "narration" in err.message


def test_caption_with_negative_time_is_rejected():
    err = rejected(body(captions=[{"text": "one", "startMs": -100, "endMs": 200}]))
    assert err.code == "invalid_timeline" and "negative" in err.message


@pytest.mark.parametrize(
    "bad",
    [
        {"scenes": [{"image": "a.png", "startMs": -5, "endMs": 100}]},  # negative time
        {"resolution": 1440},  # unsupported size
        {"aspectRatio": "4:3"},  # unsupported shape
        {"fps": 29},
        {"durationMs": 0},
        {"highlightColor": "yellow"},
        {"scenes": []},
        # NaN/Infinity pass every < and > check and would reach node's JSON.parse
        {"captions": [{"text": "hi", "startMs": 0, "endMs": 500, "confidence": float("nan")}]},
        {"captions": [{"text": "hi", "startMs": float("nan"), "endMs": 500}]},
        {"captions": [{"text": "hi", "startMs": 0, "endMs": float("inf")}]},
    ],
)
def test_field_level_problems_fail_request_validation(bad):
    with pytest.raises(ValidationError):
        RenderVideoRequest.model_validate(body(**bad))


def test_unsupported_size_has_its_own_code():
    with pytest.raises(CapabilityError) as e:
        dimensions("16:9", 1440)
    assert e.value.code == "unsupported_size" and e.value.http_status == 422


def test_missing_artifact_is_rejected_at_submission(tmp_path, monkeypatch):
    from modal_functions.settings import get_settings
    from modal_functions.storage import get_store

    monkeypatch.setenv("CANVASCAST_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ARTIFACT_STORE", "local")
    get_settings.cache_clear()
    try:
        store = get_store()
        present = store.put_bytes(b"\x89PNG fake", ".png", "image/png")
        request = RenderVideoRequest.model_validate(body(scenes=[
            {"image": present.key, "startMs": 0, "endMs": 1500},
            {"image": "artifacts/sha256/ab/" + "ab" * 32 + ".png", "startMs": 1500, "endMs": 3000},
        ]))
        with pytest.raises(CapabilityError) as e:
            CAP.validate(request)
        assert e.value.code == "missing_asset" and e.value.http_status == 422 and "scenes[1]" in e.value.message
    finally:
        get_settings.cache_clear()


def test_geometry_matches_the_composition_sums():
    assert dimensions("16:9", 720) == (1280, 720)
    assert dimensions("9:16", 1080) == (1080, 1920)
    assert dimensions("1:1", 480) == (480, 480)
    assert dimensions("16:9", 480) == (854, 480)  # even width
    assert ms_to_frame(1250, 30) == 38  # 37.5 rounds half up, as Math.round does
    request = RenderVideoRequest.model_validate(body(durationMs=2017, fps=24))
    assert geometry(request.timeline).frames == 48
