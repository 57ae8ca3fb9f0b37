"""Audio in: decode anything ffmpeg/PyAV reads to 16 kHz mono float32, or refuse it with a code.

Every refusal is a `CapabilityError` with a 4xx status and one of the codes below, so a
caller can tell "your file is broken" from "your file is silence" from "too long"
without parsing a message. Nothing here raises anything else for bad input.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import CapabilityError
from ..logs import get_logger

SAMPLE_RATE = 16_000

BAD_AUDIO = "bad_audio"  # empty, corrupt, or not audio at all
log = get_logger(__name__)
AUDIO_SILENT = "audio_silent"  # decodes fine, but there is no speech in it
AUDIO_TOO_LONG = "audio_too_long"

DEFAULT_MAX_SECONDS = 3600.0  # an hour of 16 kHz float32 is ~230 MB in memory
SILENCE_PEAK_DBFS = -60.0  # louder than this somewhere, or it is silence
# What a codec adds to the length that is no part of the audio: an Opus header counts its 6.5 ms
# pre-skip, AAC decodes to up to ~50 ms of encoder delay and padding. A narration exactly as long
# as the limit was refused ("audio is 10 s; the limit is 10 s").
CODEC_SLACK_S = 0.1


def max_audio_seconds() -> float:
    raw = os.environ.get("ALIGN_MAX_AUDIO_SECONDS", "")
    try:
        value = float(raw) if raw.strip() else DEFAULT_MAX_SECONDS
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):  # a bad setting must not crash every job
        log.warning("ALIGN_MAX_AUDIO_SECONDS is not a positive number; using the default",
                    extra={"value": raw, "default": DEFAULT_MAX_SECONDS})
        return DEFAULT_MAX_SECONDS
    return value


def _probe_duration(path: Path) -> float | None:
    """The audio's duration in seconds from the header, without decoding (None when the header does not
    say); raises BAD_AUDIO when it is not audio."""
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            streams = container.streams.audio
            if not streams:
                raise CapabilityError(BAD_AUDIO, "the file has no audio stream", http_status=422)
            stream = streams[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            # the whole file's length is the audio's only when nothing else is in it: a WebM or Matroska
            # file states no length per stream, and its video can run on long after the narration
            if container.duration is not None and len(container.streams) == 1:
                return container.duration / 1_000_000
            return None
    except CapabilityError:
        raise
    except Exception as e:  # av.error.InvalidDataError and friends: not something ffmpeg can read
        raise CapabilityError(BAD_AUDIO, f"not a readable audio file ({type(e).__name__})", http_status=422) from e


def load_audio(path: Path, max_seconds: float | None = None) -> np.ndarray:
    """16 kHz mono float32 samples of `path`, after the checks that make bad input a clear 4xx."""
    path = Path(path)
    max_seconds = max_audio_seconds() if max_seconds is None else max_seconds
    if not path.exists() or path.stat().st_size == 0:
        raise CapabilityError(BAD_AUDIO, "the audio file is empty", http_status=422)
    duration = _probe_duration(path)
    if duration is not None and duration > max_seconds + CODEC_SLACK_S:
        raise CapabilityError(AUDIO_TOO_LONG, f"audio is {duration:.1f} s; the limit is {max_seconds:g} s", http_status=413)

    try:
        audio = _decode(path, max_seconds)
    except CapabilityError:
        raise
    except Exception as e:  # truncated or corrupt streams fail mid-decode
        raise CapabilityError(BAD_AUDIO, f"the audio could not be decoded ({type(e).__name__})", http_status=422) from e
    if audio.size == 0:
        raise CapabilityError(BAD_AUDIO, "the audio decodes to no samples", http_status=422)
    return audio.astype(np.float32, copy=False)


def _decode(path: Path, max_seconds: float) -> np.ndarray:
    """faster-whisper's `decode_audio` step for step (frames it cannot decode skipped, grouped by
    500,000 samples, resampled to 16 kHz mono s16: the same samples), but refusing AUDIO_TOO_LONG as
    soon as more than `max_seconds` is decoded: a container that does not state its length (a
    browser's webm recording, FLAC written to a pipe) passes `_probe_duration`, and decoding all of
    it first held gigabytes, and took minutes, for a file refused anyway."""
    import gc
    import itertools

    import av

    limit = (max_seconds + CODEC_SLACK_S) * SAMPLE_RATE
    resampler = av.audio.resampler.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    parts: list[np.ndarray] = []
    samples = 0
    try:
        with av.open(str(path), mode="r", metadata_errors="ignore") as container:
            for group in itertools.chain(_grouped(container.decode(audio=0)), [None]):  # None flushes the resampler
                _check_finite(group)
                for frame in resampler.resample(group):
                    parts.append(frame.to_ndarray().reshape(-1))
                    samples += parts[-1].size
                    if samples > limit:
                        raise CapabilityError(AUDIO_TOO_LONG, f"audio is over the limit of {max_seconds:g} s",
                                              http_status=413)
    finally:
        del resampler
        gc.collect()  # as faster-whisper does: the resampler's buffers are freed only by a collection
    pcm = np.concatenate(parts) if parts else np.zeros(0, np.int16)
    return pcm.astype(np.float32) / 32768.0


_FLOAT_FORMATS = frozenset({"flt", "fltp", "dbl", "dblp"})


def _check_finite(group) -> None:
    """BAD_AUDIO when decoded float samples (a float WAV's, stored as they are) hold NaN or infinity.
    Checked before the 16-bit resampler, which turns both into full-scale -1.0: a file of NaN would be
    refused as silent, and a burst of them in good audio would reach Whisper as a click."""
    if group is not None and group.format.name in _FLOAT_FORMATS and not np.isfinite(group.to_ndarray()).all():
        raise CapabilityError(BAD_AUDIO, "the audio contains invalid samples (NaN or infinity)", http_status=422)


def _grouped(frames, size: int = 500_000):
    """Decoded frames (an undecodable one skipped) regrouped into frames of `size` samples."""
    import av

    fifo = av.audio.fifo.AudioFifo()
    frames = iter(frames)
    while True:
        try:
            frame = next(frames)
        except StopIteration:
            break
        except av.error.InvalidDataError:
            continue
        frame.pts = None  # the fifo refuses timestamps that do not run on; a gap in them is no reason to refuse
        fifo.write(frame)
        if fifo.samples >= size:
            yield fifo.read()
    if fifo.samples > 0:
        yield fifo.read()


def ensure_speech(audio: np.ndarray) -> list[dict]:
    """Raise AUDIO_SILENT unless some of `audio` is speech. Returns the VAD's speech regions (samples)."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak <= 10 ** (SILENCE_PEAK_DBFS / 20):
        raise CapabilityError(AUDIO_SILENT, "the audio is silent", http_status=422)
    regions = speech_regions(audio)
    if not regions:
        raise CapabilityError(AUDIO_SILENT, "no speech found in the audio", http_status=422)
    return regions


def speech_regions(audio: np.ndarray) -> list[dict]:
    """Silero VAD (bundled with faster-whisper): [{"start", "end"}] in samples, split at pauses >= 200 ms."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    return get_speech_timestamps(audio, VadOptions(min_silence_duration_ms=200, speech_pad_ms=0))


CLIP_SILENCE_S = 4.0  # a stretch without speech at least this long is not given to Whisper ...
CLIP_PAD_S = 0.5  # ... except this much of it next to the speech on either side


def region_seconds(regions: list[dict]) -> list[tuple[float, float]]:
    """VAD regions (samples) as (start, end) seconds."""
    return [(r["start"] / SAMPLE_RATE, r["end"] / SAMPLE_RATE) for r in regions]


def speech_clips(regions: list[dict], duration: float, *, min_silence: float = CLIP_SILENCE_S,
                 pad: float = CLIP_PAD_S) -> tuple[float, ...]:
    """Whisper's `clip_timestamps` (start, end, start, end... seconds, on 10 ms mel frames) for the
    stretches of `duration` that hold the VAD's speech `regions`: every silence of `min_silence` or
    more (also at either end) is cut out but for `pad` next to the speech. () when nothing is cut
    (or no speech was found): Whisper then decodes the whole audio, as it always did.

    Whisper decodes 30 s windows; on one of pure silence it hallucinates ("you"), and with its
    previous text as the prompt then writes the real speech after it as more of the same. The last
    clip runs to the end of the audio (an odd count: each engine uses its own last frame), so both
    engines cut exactly the same frames."""
    spans: list[list[float]] = []
    for start, end in region_seconds(regions):
        if spans and start - spans[-1][1] < min_silence:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    if not spans:
        return ()
    if spans[0][0] < min_silence:
        spans[0][0] = 0.0
    if duration - spans[-1][1] < min_silence:
        spans[-1][1] = duration
    if spans == [[0.0, duration]]:
        return ()
    out: list[float] = []
    for start, end in spans:
        out += [round(max(0.0, start - pad), 2), round(min(duration, end + pad), 2)]
    if out[-1] >= round(duration, 2):
        out.pop()  # to the end: the engines' own last frame (openai-whisper does not clamp a later end)
    return tuple(out)


def trim_silence(audio: np.ndarray, dbfs: float = -50.0) -> np.ndarray:
    """Cut leading and trailing samples quieter than `dbfs` (RMS over 1 ms frames); all-quiet gives an empty array."""
    frames = audio[: len(audio) // 16 * 16].reshape(-1, 16)
    loud = np.nonzero(np.sqrt((frames**2).mean(1)) > 10 ** (dbfs / 20))[0]
    if loud.size == 0:
        return audio[:0]
    return audio[loud[0] * 16 : (loud[-1] + 1) * 16]


def write_wav(path: Path, audio: np.ndarray) -> Path:
    """16 kHz mono float samples in [-1, 1] to a 16-bit PCM WAV (clipped); returns `path`."""
    import wave

    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(SAMPLE_RATE)
        f.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return Path(path)
