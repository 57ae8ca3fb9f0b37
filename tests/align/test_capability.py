"""transcribe_audio end to end under the runtime's LocalTaskContext with a real LocalStore."""

import pytest

from modal_functions.align.capability import CAPABILITY
from modal_functions.contract.align import Caption, TranscribeAudioRequest, TranscribeAudioResult
from modal_functions.errors import CapabilityError
from modal_functions.runtime.context import LocalTaskContext

CAPTION_KEYS = {"text", "startMs", "endMs", "timestampMs", "confidence"}  # Remotion's Caption, nothing else


def run(state, store, settings, **request):
    updates = []
    req = TranscribeAudioRequest(**request)
    with LocalTaskContext(settings=settings, store=store, on_progress=updates.append, allow_local_paths=True) as ctx:
        result = CAPABILITY.run(state, req, ctx)
        workdir = ctx.workdir
    assert not workdir.exists()  # temp files gone
    return result, updates


def test_script_aware_result_in_remotion_caption_shape(state, store, settings, gapped_clip):
    result, updates = run(state, store, settings, audio=str(gapped_clip.path), script=gapped_clip.script)
    assert isinstance(result, TranscribeAudioResult)
    assert (result.engine, result.model) == ("faster-whisper", "tiny.en")
    assert [w.text.strip() for w in result.words] == gapped_clip.script.split()  # script spelling + punctuation
    assert result.words[0].text == "Our" and result.words[1].text.startswith(" ")
    for w in result.words:
        assert isinstance(w, Caption) and set(w.model_dump()) == CAPTION_KEYS
        assert w.startMs <= w.timestampMs <= w.endMs and 0 <= w.confidence <= 1
    assert result.match_rate >= 0.8 and not result.flagged
    assert result.segments and result.duration_ms > result.words[-1].endMs

    srt = store.read_bytes(result.srt.key).decode()
    vtt = store.read_bytes(result.vtt.key).decode()
    assert srt.startswith("1\n00:00:0") and " --> " in srt and "panels" in srt
    assert vtt.startswith("WEBVTT\n\n00:00:0") and "house." in vtt
    done = [u.done for u in updates]
    assert done == sorted(done) and done[-1] == 100


def test_engine_and_model_are_kept_as_requested(state, store, settings, sentence_clip, openai_engine):
    state.engines[("openai-whisper", "tiny.en")] = openai_engine  # the session's converted model
    result, _ = run(state, store, settings, audio=str(sentence_clip.path), engine="openai-whisper", refine=False)
    assert (result.engine, result.model) == ("openai-whisper", "tiny.en")
    assert result.words and result.srt and result.vtt
    assert result.match_rate is None and "captions" in result.text.lower()


def test_unknown_model_is_refused_at_submission():
    with pytest.raises(CapabilityError) as e:
        CAPABILITY.validate(TranscribeAudioRequest(audio="artifacts/sha256/aa/x.wav", model="large-v3"))
    assert e.value.code == "unknown_model" and 400 <= e.value.http_status < 500


def test_language_tags_are_read_as_whisper_codes_and_unknown_ones_refused():
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    from modal_functions.align.capability import WHISPER_LANGUAGES

    assert WHISPER_LANGUAGES == set(_LANGUAGE_CODES)
    for tag in ("EN", "en-US", "en_GB", " En "):
        req = TranscribeAudioRequest(audio="artifacts/sha256/aa/x.wav", language=tag)
        assert req.language == "en"
        CAPABILITY.validate(req)  # tiny.en takes it, and the forced aligner runs for "en"
    for tag in ("eng", "english", "xx"):
        with pytest.raises(CapabilityError) as e:
            CAPABILITY.validate(TranscribeAudioRequest(audio="artifacts/sha256/aa/x.wav", language=tag, model="large-v3"))
        assert e.value.code == "unsupported_language" and e.value.http_status == 422 and repr(tag) in e.value.message


def test_language_the_model_cannot_speak_is_refused():
    with pytest.raises(CapabilityError) as e:
        CAPABILITY.validate(TranscribeAudioRequest(audio="artifacts/sha256/aa/x.wav", language="de"))
    assert e.value.code == "unsupported_language" and e.value.http_status == 422


def test_heartbeats_while_a_long_call_holds_the_thread():
    import threading

    from modal_functions.align.capability import _heartbeats

    beat = threading.Event()

    class Ctx:
        def heartbeat(self):
            beat.set()

    with _heartbeats(Ctx(), every=0.01):
        assert beat.wait(timeout=10)  # the side thread beats; the main thread is "busy" here


def test_load_warms_the_installed_models_named_in_align_warm_models(tmp_path, monkeypatch):
    """@modal.enter on the GPU class warms the production model this way; a missing one is skipped."""
    from modal_functions.align.capability import load
    from modal_functions.align.convert import bundled_ct2_dir
    from modal_functions.settings import get_settings

    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "ct2-tiny-twin").symlink_to(bundled_ct2_dir(), target_is_directory=True)
    monkeypatch.setenv("CANVASCAST_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ALIGN_WARM_MODELS", "tiny-twin, large-v3")
    get_settings.cache_clear()
    try:
        state = load()
        assert set(state.engines) == {("faster-whisper", "tiny.en"), ("faster-whisper", "tiny-twin")}
        CAPABILITY.validate(TranscribeAudioRequest(audio="artifacts/sha256/aa/x.wav", model="tiny-twin"))
    finally:
        get_settings.cache_clear()  # do not leak this test's data dir to later tests
