"""Asset formats: what chromium or Remotion's own ffmpeg cannot read is converted while staging.

An image is known by its bytes, never its name: PNG, JPEG, WEBP, GIF, BMP and AVIF are
staged as they are, anything else Pillow reads (TIFF, PSD, PPM, TGA, …) as a PNG with the
same pixels and alpha. Audio Remotion plays is staged as it is; other audio the system
ffmpeg decodes (ADPCM or mu-law WAV, ALAC, MP2, AIFF, WMA, …) as a 16-bit WAV with the
same sample rate, channels and samples. What nothing reads is a `bad_asset`, and a
directory, a device or a `file:` URL is named as such, all before a frame is rendered.
"""

from __future__ import annotations

import struct
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from modal_functions.contract.render import Timeline
from modal_functions.errors import CapabilityError
from modal_functions.render import project
from modal_functions.render.assets import PLAYABLE_AUDIO, stage_assets
from modal_functions.runtime.context import LocalTaskContext

from render_support import decode_frames, ffprobe

REMOTION_FFMPEG = project.PROJECT_DIR / "node_modules" / "@remotion" / "compositor-linux-x64-gnu" / "ffmpeg"
RATE = 22050


# ## Helpers


@pytest.fixture
def serve_dir(tmp_path) -> Path:
    return tmp_path / "serve"


@pytest.fixture
def stage(tmp_path, serve_dir):
    """Stage a timeline's assets as a job does; returns {reference: staged file}."""
    plain = tmp_path / "plain.png"
    image(plain, "PNG")

    def run(scene: Path | str | None = None, *, narration: Path | str | None = None, music: Path | str | None = None) -> dict[str, Path]:
        t: dict = {"durationMs": 1000, "scenes": [{"image": str(scene or plain), "startMs": 0, "endMs": 1000}]}
        if narration:
            t["narration"] = str(narration)
        if music:
            t["music"] = str(music)
        with LocalTaskContext(job_id="formats", allow_local_paths=True) as ctx:
            staged = stage_assets(Timeline.model_validate(t), ctx.fetch_input, serve_dir, "http://127.0.0.1:1")
        return {ref: staged.folder / url.rsplit("/", 1)[1] for ref, url in staged.urls.items()}

    return run


def refused(stage, serve_dir, **refs) -> CapabilityError:
    with pytest.raises(CapabilityError) as e:
        stage(**refs)
    assert e.value.http_status == 422
    assert not serve_dir.exists() or not any(serve_dir.iterdir()), "staged assets must be removed on failure"
    return e.value


def pixels(seed: int = 7, mode: str = "RGBA") -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (24, 40, len(mode)), dtype=np.uint8)


def image(path: Path, fmt: str, mode: str = "RGB", seed: int = 7, **kw) -> np.ndarray:
    """A seeded noise picture saved by Pillow as `fmt`; returns the pixels written."""
    from PIL import Image

    data = pixels(seed, mode)
    Image.frombytes(mode, (data.shape[1], data.shape[0]), data.tobytes()).save(path, fmt, **kw)
    return data


def read_pixels(path: Path) -> tuple[str, str, np.ndarray]:
    from PIL import Image

    with Image.open(path) as im:
        return im.format, im.mode, np.asarray(im)


def source_wav(path: Path, channels: int = 1, rate: int = RATE, seconds: float = 0.5, seed: int = 3) -> np.ndarray:
    """A seeded tone with a little noise as 16-bit PCM; returns the samples, shape (n, channels)."""
    n = int(rate * seconds)
    t = np.arange(n) / rate
    rng = np.random.default_rng(seed)
    tone = [0.4 * np.sin(2 * np.pi * (220 * (c + 1)) * t) + 0.05 * rng.standard_normal(n) for c in range(channels)]
    samples = (np.clip(np.stack(tone, axis=1), -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return samples


def encode(src: Path, out: Path, *args: str) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), *args, str(out)], check=True)
    return out


def audio_stream(path: Path) -> dict:
    return next(s for s in ffprobe(path)["streams"] if s["codec_type"] == "audio")


def decoded(path: Path, ffmpeg: str = "ffmpeg") -> np.ndarray:
    """The first audio stream decoded to 16-bit PCM (as a WAV: Remotion's ffmpeg has no raw muxer)."""
    proc = subprocess.run([ffmpeg, "-v", "error", "-i", str(path), "-map", "0:a:0", "-c:a", "pcm_s16le", "-bitexact", "-f", "wav", "-"], capture_output=True, check=True)
    data = proc.stdout
    i = data.index(b"data") + 8  # a bitexact header: RIFF, fmt, then data
    channels = struct.unpack_from("<H", data, 22)[0]
    return np.frombuffer(data[i:], dtype="<i2").reshape(-1, channels)


def remotion_decodes(path: Path) -> None:
    if not REMOTION_FFMPEG.exists():
        return  # Remotion is not installed here: the staging checks above still ran
    proc = subprocess.run([str(REMOTION_FFMPEG), "-v", "error", "-i", str(path), "-map", "0:a:0", "-f", "null", "-"], capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr[-500:]


# ## Audio


CONVERTED = {
    # name: (file name, ffmpeg output options, channels)
    "adpcm_ima_wav": ("narr.wav", ["-c:a", "adpcm_ima_wav"], 1),
    "mulaw_wav": ("narr.wav", ["-c:a", "pcm_mulaw"], 2),
    "alac_m4a": ("narr.m4a", ["-c:a", "alac"], 2),
    "mp2": ("narr.mp2", ["-c:a", "mp2"], 2),
    "aiff": ("narr.aiff", ["-c:a", "pcm_s16be"], 1),
    "wma": ("narr.wma", ["-c:a", "wmav2"], 2),
    "ac3": ("narr.ac3", ["-c:a", "ac3"], 2),  # Remotion decodes it, chromium's <audio> (looped music) does not
    "ogg_vorbis": ("narr.ogg", ["-c:a", "libvorbis"], 2),  # chromium misjudges its duration: music loops early
    "adpcm_as_mp3": ("narr.mp3", ["-c:a", "adpcm_ima_wav", "-f", "wav"], 1),  # the name does not matter
}


@pytest.mark.parametrize("name", sorted(CONVERTED))
def test_audio_remotion_cannot_play_is_staged_as_wav_with_the_same_samples(stage, tmp_path, name):
    filename, args, channels = CONVERTED[name]
    rate = 44100 if channels == 2 else RATE
    source_wav(tmp_path / "pcm.wav", channels, rate)
    src = encode(tmp_path / "pcm.wav", tmp_path / filename, *args)
    want = decoded(src)
    staged = stage(narration=src)[str(src)]
    assert staged.suffix == ".wav"
    s = audio_stream(staged)
    assert (s["codec_name"], int(s["sample_rate"]), s["channels"]) == ("pcm_s16le", rate, channels)
    # every sample the source decodes to, none added or dropped: captions are timed against it
    np.testing.assert_array_equal(decoded(staged), want)
    remotion_decodes(staged)


@pytest.mark.parametrize("codec,ext", [("alac", "m4a"), ("pcm_s16be", "aiff")])
def test_lossless_audio_is_converted_sample_for_sample(stage, tmp_path, codec, ext):
    original = source_wav(tmp_path / "pcm.wav", channels=2)
    src = encode(tmp_path / "pcm.wav", tmp_path / f"narr.{ext}", "-c:a", codec)
    staged = stage(music=src)[str(src)]
    np.testing.assert_array_equal(decoded(staged), original)


# Samples of every (container, codec) staged as it is, by the extension the sidecar serves them under.
PLAYABLE_SAMPLES = {
    ("wav", "pcm_u8"): ("a.wav", ["-c:a", "pcm_u8"], ".wav"),
    ("wav", "pcm_s16le"): ("a.wav", ["-c:a", "pcm_s16le"], ".wav"),
    ("wav", "pcm_s24le"): ("a.wav", ["-c:a", "pcm_s24le"], ".wav"),
    ("wav", "pcm_s32le"): ("a.wav", ["-c:a", "pcm_s32le"], ".wav"),
    ("wav", "pcm_f32le"): ("a.wav", ["-c:a", "pcm_f32le"], ".wav"),
    ("mp3", "mp3"): ("a.mp3", ["-c:a", "libmp3lame"], ".mp3"),
    ("flac", "flac"): ("a.flac", ["-c:a", "flac"], ".flac"),
    ("mov,mp4,m4a,3gp,3g2,mj2", "aac"): ("a.m4a", ["-c:a", "aac"], ".m4a"),
    ("mov,mp4,m4a,3gp,3g2,mj2", "mp3"): ("a.mp4", ["-c:a", "libmp3lame"], ".m4a"),
    ("mov,mp4,m4a,3gp,3g2,mj2", "flac"): ("a.mp4", ["-c:a", "flac", "-strict", "-2"], ".m4a"),
    ("mov,mp4,m4a,3gp,3g2,mj2", "opus"): ("a.mp4", ["-c:a", "libopus"], ".m4a"),
    ("ogg", "opus"): ("a.opus", ["-c:a", "libopus"], ".ogg"),
    ("ogg", "flac"): ("a.ogg", ["-c:a", "flac"], ".ogg"),
    ("matroska,webm", "opus"): ("a.webm", ["-c:a", "libopus"], ".webm"),
    ("matroska,webm", "vorbis"): ("a.webm", ["-c:a", "libvorbis"], ".webm"),
    ("matroska,webm", "flac"): ("a.mka", ["-c:a", "flac"], ".webm"),
    ("matroska,webm", "mp3"): ("a.mka", ["-c:a", "libmp3lame"], ".webm"),
    ("matroska,webm", "aac"): ("a.mka", ["-c:a", "aac"], ".webm"),
}


def test_every_playable_pair_has_a_sample():
    table = {(container, codec) for container, (codecs, _) in PLAYABLE_AUDIO.items() for codec in codecs}
    assert table == set(PLAYABLE_SAMPLES)


@pytest.mark.parametrize("pair", sorted(PLAYABLE_SAMPLES), ids="/".join)
def test_audio_remotion_plays_is_staged_as_it_is(stage, tmp_path, pair):
    filename, args, ext = PLAYABLE_SAMPLES[pair]
    source_wav(tmp_path / "pcm.wav", channels=2, rate=48000)
    src = encode(tmp_path / "pcm.wav", tmp_path / filename, *args)
    info = ffprobe(src)
    assert (info["format"]["format_name"], audio_stream(src)["codec_name"]) == pair
    staged = stage(narration=src)[str(src)]
    assert staged.suffix == ext and staged.read_bytes() == src.read_bytes()
    remotion_decodes(staged)  # the measurement behind PLAYABLE_AUDIO, kept true on upgrades


@pytest.mark.parametrize("real,name,ext", [("libopus", "voice.mp3", ".ogg"), ("libmp3lame", "voice.wav", ".mp3"), ("aac", "voice.ogg", ".m4a")])
def test_audio_is_known_by_its_bytes_not_its_name(stage, tmp_path, real, name, ext):
    source_wav(tmp_path / "pcm.wav")
    fmt = {"libopus": "ogg", "libmp3lame": "mp3", "aac": "ipod"}[real]
    src = encode(tmp_path / "pcm.wav", tmp_path / name, "-c:a", real, "-f", fmt)
    staged = stage(narration=src)[str(src)]
    assert staged.suffix == ext and staged.read_bytes() == src.read_bytes()


def test_audio_no_ffmpeg_can_decode_is_a_bad_asset(stage, serve_dir, tmp_path):
    # a WAV whose format tag no decoder knows: ffprobe sees an audio stream, nothing decodes it
    fmt = struct.pack("<HHIIHH", 0x2222, 1, 8000, 16000, 2, 16)
    data = bytes(np.random.default_rng(5).integers(0, 256, 8000, dtype=np.uint8))
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    bad = tmp_path / "voice.wav"
    bad.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    err = refused(stage, serve_dir, music=bad)
    assert err.code == "bad_asset" and "music" in err.message and "cannot be decoded" in err.message


def test_a_file_that_is_not_audio_is_a_bad_asset(stage, serve_dir, tmp_path):
    bad = tmp_path / "voice.wma"
    bad.write_bytes(bytes(np.random.default_rng(6).integers(0, 256, 4000, dtype=np.uint8)))
    err = refused(stage, serve_dir, narration=bad)
    assert err.code == "bad_asset" and "narration" in err.message


# ## Images


@pytest.mark.parametrize("name,fmt,mode", [
    ("scene.tiff", "TIFF", "RGBA"),
    ("scene.png", "TIFF", "RGB"),  # a TIFF named .png
    ("scene.jpg", "TIFF", "RGBA"),
    ("scene.ppm", "PPM", "RGB"),
    ("scene.tga", "TGA", "RGBA"),
    ("scene.sgi", "SGI", "RGB"),
    ("scene.pcx", "PCX", "RGB"),
    ("scene.qoi", "QOI", "RGBA"),
    ("scene.tif", "TIFF", "L"),
])
def test_images_chromium_cannot_show_become_pngs_with_the_same_pixels(stage, tmp_path, name, fmt, mode):
    src = tmp_path / name
    want = image(src, fmt, mode)
    staged = stage(src)[str(src)]
    assert staged.suffix == ".png"
    got_fmt, got_mode, got = read_pixels(staged)
    assert (got_fmt, got_mode) == ("PNG", mode)
    np.testing.assert_array_equal(got.reshape(want.shape), want)


def test_a_psd_becomes_a_png(stage, tmp_path):
    want = pixels(9, "RGBA")
    h, w, c = want.shape
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, c, h, w, 8, 3) + struct.pack(">IIIH", 0, 0, 0, 0)  # raw planes
    src = tmp_path / "layered.psd"
    src.write_bytes(header + b"".join(want[:, :, i].tobytes() for i in range(c)))
    staged = stage(src)[str(src)]
    got_fmt, got_mode, got = read_pixels(staged)
    assert (got_fmt, got_mode) == ("PNG", "RGBA")
    np.testing.assert_array_equal(got, want)


def test_a_cmyk_tiff_becomes_an_rgb_png(stage, tmp_path):
    from PIL import Image

    src = tmp_path / "print.tiff"
    image(src, "TIFF", "CMYK")
    staged = stage(src)[str(src)]
    with Image.open(src) as im:
        want = np.asarray(im.convert("RGB"))
    assert read_pixels(staged)[1] == "RGB"
    np.testing.assert_array_equal(read_pixels(staged)[2], want)


def test_a_16_bit_tiff_keeps_its_depth(stage, tmp_path):
    from PIL import Image

    want = (np.random.default_rng(4).integers(0, 65536, (24, 40))).astype(np.uint16)
    src = tmp_path / "deep.tiff"
    Image.fromarray(want).save(src, "TIFF")
    staged = stage(src)[str(src)]
    fmt, mode, got = read_pixels(staged)
    assert fmt == "PNG" and mode.startswith("I;16")
    np.testing.assert_array_equal(got.astype(np.uint16), want)


def test_a_converted_image_is_turned_upright_by_its_exif_orientation(stage, tmp_path):
    from PIL import Image

    src = tmp_path / "camera.tiff"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side: shown turned 90 degrees clockwise, as chromium shows a JPEG
    data = image(src, "TIFF", "RGB", exif=exif)
    staged = stage(src)[str(src)]
    fmt, _, got = read_pixels(staged)
    assert fmt == "PNG"
    np.testing.assert_array_equal(got, np.rot90(data, k=-1))
    with Image.open(staged) as im:
        assert im.getexif().get(0x0112) in (None, 1)


@pytest.mark.parametrize("name,fmt,ext", [
    ("a.png", "PNG", ".png"),
    ("a.png", "JPEG", ".jpg"),  # a JPEG named .png
    ("a.jpg", "WEBP", ".webp"),
    ("a.jpg", "PNG", ".png"),
    ("a.webp", "GIF", ".gif"),
    ("a.png", "BMP", ".bmp"),
    ("a", "JPEG", ".jpg"),
])
def test_images_chromium_shows_are_staged_as_they_are_under_their_real_extension(stage, tmp_path, name, fmt, ext):
    src = tmp_path / name
    image(src, fmt, "RGB")
    staged = stage(src)[str(src)]
    assert staged.suffix == ext and staged.read_bytes() == src.read_bytes()


def test_an_unreadable_image_is_a_bad_asset_whatever_its_name(stage, serve_dir, tmp_path):
    bad = tmp_path / "scene.tiff"
    bad.write_bytes(bytes(np.random.default_rng(8).integers(0, 256, 3000, dtype=np.uint8)))
    err = refused(stage, serve_dir, scene=bad)
    assert err.code == "bad_asset" and "scenes[0]" in err.message


def test_a_truncated_tiff_is_a_bad_asset(stage, serve_dir, tmp_path):
    whole = tmp_path / "whole.tiff"
    image(whole, "TIFF", "RGB")
    cut = tmp_path / "cut.tiff"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    err = refused(stage, serve_dir, scene=cut)
    assert err.code == "bad_asset" and "scenes[0]" in err.message


# ## References that are not files


def test_a_directory_is_named_as_one(stage, serve_dir, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    err = refused(stage, serve_dir, scene=folder)
    assert err.code == "missing_asset" and "scenes[0]" in err.message and "directory" in err.message
    assert "no such file" not in err.message


def test_a_device_is_not_a_regular_file(stage, serve_dir):
    err = refused(stage, serve_dir, narration="/dev/zero")
    assert err.code == "missing_asset" and "narration" in err.message and "not a regular file" in err.message


def test_a_file_url_in_a_cli_timeline_says_file_urls_are_not_supported(stage, serve_dir, tmp_path):
    from modal_functions.render.commands import resolve_local_refs

    real = tmp_path / "scene.png"
    image(real, "PNG")
    data = resolve_local_refs({"scenes": [{"image": real.as_uri()}]}, tmp_path)  # as the CLI reads a timeline
    err = refused(stage, serve_dir, scene=data["scenes"][0]["image"])
    assert err.code == "missing_asset" and "file: URLs are not supported" in err.message


def test_a_missing_file_is_still_no_such_file(stage, serve_dir, tmp_path):
    err = refused(stage, serve_dir, music=tmp_path / "nope.mp3")
    assert err.code == "missing_asset" and "music" in err.message and "no such file" in err.message


# ## One real render


def test_adpcm_narration_and_a_tiff_scene_render(run_render, store, tmp_path):
    from PIL import Image

    scene = tmp_path / "scene.tiff"
    Image.new("RGB", (320, 180), (30, 60, 220)).save(scene, "TIFF")
    source_wav(tmp_path / "pcm.wav", channels=1, rate=RATE, seconds=1.0)
    narration = encode(tmp_path / "pcm.wav", tmp_path / "narration.wav", "-c:a", "adpcm_ima_wav")
    result, _, _ = run_render({"timeline": {
        "aspectRatio": "16:9", "resolution": 360, "fps": 24, "durationMs": 1000,
        "scenes": [{"image": str(scene), "startMs": 0, "endMs": 1000}],
        "narration": str(narration),
    }})
    out = tmp_path / "out.mp4"
    store.get_to_file(result.video.key, out)
    assert result.frames == 24
    audio = [s for s in ffprobe(out)["streams"] if s["codec_type"] == "audio"]
    assert audio and audio[0]["codec_name"] == "aac"
    assert np.abs(decoded(out).astype(int)).max() > 3000, "the narration is heard"
    middle = decode_frames(out, 640, 360)[12, 180, 320].astype(int)
    assert np.abs(middle - (30, 60, 220)).max() <= 12, "the TIFF is shown"


def test_conversions_are_stored_once_for_chunks_rendered_elsewhere(tmp_path, serve_dir):
    """Modal chunk containers stage the timeline themselves: what the job converted reaches
    them converted (a stored PNG/WAV), so none of them converts it again."""
    from modal_functions.settings import Settings
    from modal_functions.storage.local import LocalStore

    tiff, png = tmp_path / "scene.tiff", tmp_path / "plain.png"
    want = image(tiff, "TIFF", "RGBA")
    image(png, "PNG")
    source_wav(tmp_path / "pcm.wav")
    aiff = encode(tmp_path / "pcm.wav", tmp_path / "voice.aiff", "-c:a", "pcm_s16be")
    timeline = Timeline.model_validate({"durationMs": 2000, "narration": str(aiff), "scenes": [
        {"image": str(tiff), "startMs": 0, "endMs": 1000}, {"image": str(png), "startMs": 1000, "endMs": 2000}]})
    settings = Settings(CANVASCAST_DATA_DIR=tmp_path / "data")
    store = LocalStore(tmp_path / "store", settings.base_url, "secret")
    with LocalTaskContext(job_id="job", allow_local_paths=True, settings=settings, store=store) as ctx:
        staged = stage_assets(timeline, ctx.fetch_input, serve_dir, "http://127.0.0.1:1")
        shared = staged.with_conversions_stored(timeline, store)
    assert set(staged.converted) == {str(tiff), str(aiff)}
    assert shared.scenes[1].image == str(png)  # served as it is: nothing to store
    assert shared.scenes[0].image.startswith("artifacts/") and shared.narration.startswith("artifacts/")
    assert store.read_bytes(shared.scenes[0].image) == staged.converted[str(tiff)].read_bytes()

    with LocalTaskContext(job_id="chunk", allow_local_paths=True, settings=settings, store=store) as ctx:
        again = stage_assets(shared, ctx.fetch_input, tmp_path / "serve2", "http://127.0.0.1:1")
    assert again.converted == {}  # the chunk stages the PNG and WAV as they are
    _, _, got = read_pixels(again.folder / again.urls[shared.scenes[0].image].rsplit("/", 1)[1])
    np.testing.assert_array_equal(got.reshape(want.shape), want)
    staged.cleanup()
    again.cleanup()
