"""# transcribe_audio: caption timings within tens of milliseconds of the audio

One job: fetch the audio, check it (empty, corrupt, not audio, silent, too long all
get a 4xx code), recognise it with the engine and model the request names (a router
never changes them), put the script's words onto the recognition, refine every word
boundary against the signal, and return Remotion `Caption`s plus SRT and WebVTT
artifacts.

`load()` is the warm worker's heavy state (the default faster-whisper model, the
models named in `ALIGN_WARM_MODELS` that are installed, and the forced aligner); the
Modal layer calls the same `load()` from `@modal.enter`. Other engines/models load on
first use and stay warm.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

from ..capability import Capability, TaskContext
from ..contract.align import TranscribeAudioRequest, TranscribeAudioResult
from ..errors import CapabilityError
from ..logs import get_logger
from .audio import SAMPLE_RATE, ensure_speech, load_audio
from .captions import cues, for_display, to_srt, to_vtt
from .engines import UNKNOWN_MODEL
from .pipeline import AlignerState, align, audio_ms

log = get_logger(__name__)
KIND = "transcribe_audio"
HEARTBEAT_S = 1.0
DEFAULT_ENGINE = ("faster-whisper", "tiny.en")


def warm_models() -> list[str]:
    """`ALIGN_WARM_MODELS` (comma-separated faster-whisper models) that this deployment has."""
    wanted = [m.strip() for m in os.environ.get("ALIGN_WARM_MODELS", "").split(",") if m.strip()]
    have = [m for m in wanted if m == DEFAULT_ENGINE[1] or _installed(m)]
    if missing := sorted(set(wanted) - set(have)):
        log.warning("warm models not installed", extra={"models": missing})
    return have


def load() -> AlignerState:
    state = AlignerState()
    state.engine(*DEFAULT_ENGINE)
    for model in warm_models():
        state.engine(DEFAULT_ENGINE[0], model)
    state.forced_aligner()
    log.info("alignment models loaded", extra={"load_seconds": state.load_seconds, "models": sorted({m for _, m in state.engines})})
    return state


def _installed(model: str) -> bool:
    from ..settings import get_settings
    from .engines import installed_ct2_dir

    return installed_ct2_dir(model, get_settings().data_dir) is not None


UNSUPPORTED_LANGUAGE = "unsupported_language"
# The languages Whisper speaks (its tokenizer's codes; tests/align check them against faster-whisper's).
WHISPER_LANGUAGES = frozenset(
    "af am ar as az ba be bg bn bo br bs ca cs cy da de el en es et eu fa fi fo fr gl gu ha haw he hi hr ht hu hy id "
    "is it ja jw ka kk km kn ko la lb ln lo lt lv mg mi mk ml mn mr ms mt my ne nl nn no oc pa pl ps pt ro ru sa sd si "
    "sk sl sn so sq sr su sv sw ta te tg th tk tl tr tt uk ur uz vi yi yo zh yue".split())
# Language codes that Whisper spells otherwise: Norwegian Bokmål (browsers send "nb-NO"), Javanese,
# Filipino, and the withdrawn ISO codes still sent for Hebrew, Indonesian and Yiddish.
WHISPER_ALIASES = {"nb": "no", "jv": "jw", "fil": "tl", "iw": "he", "in": "id", "ji": "yi"}


def whisper_language(language: str) -> str:
    """The request's language (already its primary subtag, lowercase) as Whisper's code."""
    return WHISPER_ALIASES.get(language, language)


def validate(req: TranscribeAudioRequest) -> None:
    """Cheap checks at submission: a model this deployment can load, a language it speaks."""
    language = whisper_language(req.language)
    if language not in WHISPER_LANGUAGES:
        raise CapabilityError(UNSUPPORTED_LANGUAGE, f"{req.language!r} is not a language Whisper knows: give its code "
                              "('en', 'de', 'zh', ...)", http_status=422)
    if req.model.endswith(".en") and language != "en":
        raise CapabilityError(UNSUPPORTED_LANGUAGE, f"{req.model} is English-only; got language {req.language!r}", http_status=422)
    if req.model != "tiny.en" and not _installed(req.model):
        raise CapabilityError(UNKNOWN_MODEL, f"model {req.model!r} is not available (have: tiny.en)", http_status=422)


@contextmanager
def _heartbeats(ctx: TaskContext, every: float = HEARTBEAT_S):
    """Beat from a side thread while a long call (model load, a 30 s decoding window) holds the main one."""
    stop = threading.Event()

    def beat():
        while not stop.wait(every):
            ctx.heartbeat()

    thread = threading.Thread(target=beat, name="align-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def run(state: AlignerState | None, req: TranscribeAudioRequest, ctx: TaskContext) -> TranscribeAudioResult:
    state = state if state is not None else AlignerState()
    validate(req)  # also here: a job may reach a worker without passing the API
    ctx.progress(0, 100, "percent", "fetching audio")
    path = ctx.fetch_input(req.audio)
    with _heartbeats(ctx):
        audio = load_audio(path)
        speech = ensure_speech(audio)
        ctx.progress(5, 100, "percent", "loading model")
        state.engine(req.engine, req.model)

        def on_progress(fraction: float, message: str) -> None:
            ctx.progress(round(5 + 90 * fraction, 1), 100, "percent", message)

        result = align(state, audio, engine=req.engine, model=req.model, language=whisper_language(req.language),
                       script=req.script, refine_boundaries=req.refine, on_progress=on_progress, speech=speech)
    items = for_display(cues(result.words), until=audio.size / SAMPLE_RATE)
    srt = ctx.store.put_bytes(to_srt(items).encode(), "srt", "application/x-subrip")
    vtt = ctx.store.put_bytes(to_vtt(items).encode(), "vtt", "text/vtt")
    ctx.progress(100, 100, "percent", "done")
    log.info("aligned", extra={"job_id": ctx.job_id, "engine": req.engine, "model": req.model, "words": len(result.words),
                               "match_rate": result.match_rate, "flagged": result.flagged, "seconds": result.seconds,
                               "forced_aligned": result.refine_stats.force_aligned if result.refine_stats else None})
    return TranscribeAudioResult(
        text=result.text, language=result.language, duration_ms=audio_ms(audio.size),
        engine=req.engine, model=req.model, segments=result.segments, words=result.words,
        srt=srt, vtt=vtt, match_rate=result.match_rate, flagged=result.flagged,
    )


CAPABILITY = Capability(
    kind=KIND,
    request_model=TranscribeAudioRequest,
    result_model=TranscribeAudioResult,
    load=load,
    run=run,
    validate=validate,
    refs=lambda req: {req.audio: "audio"},
)
