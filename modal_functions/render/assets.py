"""Job assets: fetched from the artifact store into the sidecar's serve directory.

Every distinct reference of a timeline (scene images, narration, music) is resolved
with `ctx.fetch_input` (artifact key, signed URL, safe https URL, or a local path for
the CLI), checked, made playable, then placed at `<serve_dir>/<job>/<n><ext>`; the props
handed to Remotion point at the sidecar's loopback server. `StagedAssets.cleanup()`
removes the job's folder on every path.

What a file is comes from its bytes, never from its name. An image chromium renders
(`BROWSER_IMAGES`) is staged as it is; any other image Pillow reads (TIFF, PSD, PPM, TGA,
…) is converted to PNG. Audio Remotion plays (`PLAYABLE_AUDIO`) is staged as it is; any
other audio the system ffmpeg decodes (ADPCM or mu-law WAV, ALAC, MP2, AIFF, WMA, …) is
converted to a 16-bit PCM WAV with the same sample rate, channels and samples. What
neither reads is a `bad_asset`, before a frame is rendered, and so is a file cut short:
an image (every frame of a GIF) that does not decode to its end, audio that stops well
before the length its header gives.
"""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..contract.render import Timeline
from ..errors import CapabilityError
from ..storage.keys import content_type_for
from .timeline import BAD_ASSET, MISSING_ASSET, asset_refs

if TYPE_CHECKING:
    from ..storage.base import ArtifactStore

MAX_IMAGE_PIXELS = 50_000_000  # a scene image larger than this is refused (8K is 33 MP)
_STORE_MISSING = {"artifact_not_found", "not_found"}

# Images chromium renders as they are: Pillow's name for what the bytes are -> the
# extension they are served under. Measured with this chromium (Debian 156) loading
# <img> from a loopback server with the sidecar's content types (.bmp and .avif go out
# as application/octet-stream): PNG (1-bit to 16-bit, grey, palette, alpha), JPEG (grey,
# CMYK, progressive; MPO is a camera's JPEG with a second picture after it), WEBP (lossy,
# lossless, alpha), GIF (animated too), BMP and AVIF load. TIFF, PSD, PPM/PGM, TGA, PCX,
# SGI, QOI, DDS, ICNS, JPEG 2000, XBM, IM, MSP, BLP and DIB do not; ICO does, but shows
# only one of its sizes, so it is converted like those.
BROWSER_IMAGES = {"PNG": ".png", "JPEG": ".jpg", "MPO": ".jpg", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp", "AVIF": ".avif"}
_PNG_MODES = {"1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I;16B"}  # written to PNG as they are

# Audio Remotion plays as it is: ffprobe's container name -> (codecs of the first audio
# stream, extension it is served under). Measured by decoding a sample of each pair
# with Remotion's bundled ffmpeg (n7.1, built with a short list of demuxers and
# decoders: `ffmpeg -i f -f null -`), loading it in chromium's <audio> (how a looped
# <Html5Audio> learns its duration), and rendering it as narration and as looped music.
# Not in the list, and so converted: ADPCM, mu-law/A-law, GSM, 64-bit float and MP3 in
# WAV; W64, AIFF/AIFC, AU, CAF, WMA, WavPack, TTA, VOC, DTS, MP2 (any container), E-AC-3,
# ALAC, Speex (no decoder or demuxer in Remotion's ffmpeg); AC-3, AVI, FLV and MPEG-TS
# (chromium refuses them, so looped music fails); Ogg Vorbis and raw ADTS AAC (served as
# the sidecar serves them, without range requests, chromium misjudges their duration:
# Ogg Vorbis at a quarter to a sixth of it, so looped music restarts early; ADTS about
# 0.5% short). Ogg Opus and FLAC report no duration there, and Remotion loops those natively.
PLAYABLE_AUDIO: dict[str, tuple[frozenset[str], str]] = {
    "wav": (frozenset({"pcm_u8", "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le"}), ".wav"),
    "mp3": (frozenset({"mp3"}), ".mp3"),
    "flac": (frozenset({"flac"}), ".flac"),
    "mov,mp4,m4a,3gp,3g2,mj2": (frozenset({"aac", "mp3", "flac", "opus"}), ".m4a"),
    "ogg": (frozenset({"opus", "flac"}), ".ogg"),
    "matroska,webm": (frozenset({"opus", "vorbis", "flac", "mp3", "aac"}), ".webm"),
}
AUDIO_CONVERT_TIMEOUT_S = 600  # decoding runs at hundreds of times real time; this is a stuck file
# An intact file decodes to within tens of ms of the length its header gives (encoder delay
# and padding); one cut short (an interrupted upload) stops well before it.
TRUNCATED_AUDIO_SLACK_S = 0.25
TRUNCATED_AUDIO_SLACK_FRACTION = 0.01


@dataclass
class StagedAssets:
    folder: Path
    urls: dict[str, str]  # reference -> URL the browser loads
    converted: dict[str, Path] = field(default_factory=dict)  # reference -> the PNG/WAV made of it

    def props(self, timeline: Timeline) -> dict[str, Any]:
        """The Remotion input props: the timeline with every reference swapped for its URL."""
        return _swap_refs(timeline, self.urls)

    def with_conversions_stored(self, timeline: Timeline, store: "ArtifactStore") -> Timeline:
        """`timeline` with each converted asset's reference swapped for its conversion, stored.

        For renders fanned out to other containers (Modal chunks): each stages the timeline's
        assets itself, and would otherwise convert the same TIFF or ADPCM file again."""
        if not self.converted:
            return timeline
        keys = {ref: store.put_file(path, path.suffix, content_type_for(path.suffix.lstrip("."))).key
                for ref, path in self.converted.items()}
        return Timeline.model_validate(_swap_refs(timeline, {**{ref: ref for ref in asset_refs(timeline)}, **keys}))

    def cleanup(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _swap_refs(timeline: Timeline, mapping: dict[str, str]) -> dict[str, Any]:
    """The timeline as JSON, each asset reference replaced by `mapping[reference]`."""
    data = timeline.model_dump(mode="json")
    for scene in data["scenes"]:
        scene["image"] = mapping[scene["image"]]
    for key in ("narration", "music"):
        if data.get(key):
            data[key] = mapping[data[key]]
    return data


def stage_assets(
    timeline: Timeline,
    fetch: Callable[[str, str], Path],
    serve_dir: Path,
    base_url: str,
    *,
    heartbeat: Callable[[], None] | None = None,
) -> StagedAssets:
    folder = serve_dir / uuid.uuid4().hex
    folder.mkdir(parents=True)
    staged = StagedAssets(folder=folder, urls={})
    beat = heartbeat or (lambda: None)
    try:
        for n, (ref, use) in enumerate(asset_refs(timeline).items()):
            try:
                local = fetch(ref, "")
            except CapabilityError as e:
                # the fetch says "no such file", or names the folder or device that is there
                local_missing = e.message.startswith("no such file") or (e.http_status == 422 and _not_a_file(ref) is not None)
                missing = e.code in _STORE_MISSING or e.http_status == 404 or local_missing
                code = MISSING_ASSET if missing else e.code
                reason = (_not_a_file(ref) if local_missing else None) or e.message
                raise CapabilityError(code, f"{use}: cannot fetch {ref!r}: {reason}", retryable=e.retryable, http_status=422 if code == MISSING_ASSET else e.http_status) from e
            if local.stat().st_size == 0:
                raise CapabilityError(BAD_ASSET, f"{use}: the file is empty", http_status=422)
            if use.startswith("scenes"):
                path, converted = _stage_image(local, use, folder / str(n))
            else:
                path, converted = _stage_audio(local, use, folder / str(n), beat)
            staged.urls[ref] = f"{base_url}/{folder.name}/{path.name}"
            if converted:
                staged.converted[ref] = path
            beat()
        return staged
    except BaseException:
        staged.cleanup()
        raise


def _not_a_file(ref: str) -> str | None:
    """Why a local reference that "does not exist" is no file to read, or None if it is just absent.

    The CLI takes `file:///a/b.png` for a relative path (`<timeline dir>/file:/a/b.png`),
    and the fetch refuses directories and devices (naming them, or with "no such file")."""
    if any(part.lower().startswith("file:") for part in Path(ref).parts):
        return "file: URLs are not supported; give the file's path instead"
    try:
        mode = Path(ref).expanduser().stat().st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISDIR(mode):
        return "it is a directory, not a file"
    if not stat.S_ISREG(mode):
        return "it is not a regular file (a device, pipe or socket)"
    return None


# ## Images


def _stage_image(path: Path, use: str, dest: Path) -> tuple[Path, bool]:
    """(`dest` + the real format's extension, converted?): the file itself, or a PNG of it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            fmt = im.format or ""
            width, height = im.size
            im.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise CapabilityError(BAD_ASSET, f"{use}: not a readable image ({e})", http_status=422) from e
    if width * height > MAX_IMAGE_PIXELS:
        # chromium would decode all of it for every frame the scene is on screen
        raise CapabilityError(BAD_ASSET, f"{use}: {width}x{height} is over {MAX_IMAGE_PIXELS // 1_000_000} megapixels", http_status=422)
    ext = BROWSER_IMAGES.get(fmt)
    if ext is not None:
        _check_decodes(path, use)
        out = dest.with_suffix(ext)
        shutil.move(str(path), out)
        return out, False
    out = dest.with_suffix(".png")
    try:
        _to_png(path, out)
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
        raise CapabilityError(BAD_ASSET, f"{use}: cannot convert the {fmt or 'image'} to PNG ({e})", http_status=422) from e
    path.unlink(missing_ok=True)
    return out, True


def _check_decodes(path: Path, use: str) -> None:
    """Decode the picture chromium will show. `verify()` reads only a JPEG's, GIF's or BMP's
    structure, so a file cut short (an interrupted upload) passed it, and chromium drew the
    part it had: the scene rendered half black in a job that "succeeded"."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.format == "JPEG" or im.format == "MPO":
                im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))  # reads every byte, 1/64 of the pixels
            im.load()
            if im.format == "GIF":  # an animated GIF cut short: its first frame loads, a later one does not
                for i in range(1, im.n_frames):
                    im.seek(i)
                    im.load()
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, Image.DecompressionBombError) as e:
        raise CapabilityError(BAD_ASSET, f"{use}: the image cannot be decoded, the file may be truncated ({e})", http_status=422) from e


def _to_png(src: Path, out: Path) -> None:
    """The first frame as a PNG: same pixels and alpha, turned upright by its EXIF
    orientation as chromium turns the JPEGs, PNGs and AVIFs it renders itself."""
    from PIL import Image, ImageOps

    with Image.open(src) as im:
        im.load()
        icc = im.info.get("icc_profile")
        im = ImageOps.exif_transpose(im)
    mode = im.mode
    if (mode == "P" and "transparency" in im.info) or mode == "PA":
        im = im.convert("RGBA")
    elif mode == "I":
        im = im.convert("I;16")  # 16-bit grey (TIFF), as a 16-bit PNG
    elif mode == "La":
        im = im.convert("LA")
    elif mode not in _PNG_MODES:  # CMYK, LAB, YCbCr, HSV, RGBa, RGBX, F, ...
        im = im.convert("RGBA" if mode.endswith(("A", "a")) else "RGB")  # LAB's A is not alpha
        if mode in ("CMYK", "LAB", "YCbCr", "HSV"):
            icc = None  # that profile describes the old colour space, not the RGB
    kwargs: dict[str, Any] = {"compress_level": 1}  # served over loopback; speed over size
    if icc:
        kwargs["icc_profile"] = icc
    im.save(out, "PNG", **kwargs)


# ## Audio


def _ffprobe(args: list[str], path: Path) -> dict:
    """ffprobe's JSON for the file; {} when it cannot read it (an error, unparsable output, or 30 s
    without an answer: a malformed upload is a bad asset, not a traceback)."""
    try:
        proc = subprocess.run(["ffprobe", "-v", "error", *args, "-of", "json", str(path)],
                              capture_output=True, text=True, timeout=30)
        return json.loads(proc.stdout or "{}") if proc.returncode == 0 else {}
    except (subprocess.TimeoutExpired, ValueError):
        return {}


def _stage_audio(path: Path, use: str, dest: Path, heartbeat: Callable[[], None]) -> tuple[Path, bool]:
    """(`dest` + an extension, converted?): the file itself if Remotion plays it, else a WAV of it."""
    info = _ffprobe(["-show_entries", "format=format_name:stream=codec_type,codec_name"], path)
    audio = [s for s in info.get("streams", []) if s.get("codec_type") == "audio"]
    if not audio:
        raise CapabilityError(BAD_ASSET, f"{use}: no audio stream in the file", http_status=422)
    container = info.get("format", {}).get("format_name", "")
    codecs, ext = PLAYABLE_AUDIO.get(container, (frozenset(), ""))
    what = f"{audio[0].get('codec_name') or 'unknown codec'} in {container or 'an unknown container'}"
    if container == "wav":
        _check_wav_data(path, use)
    declared = _declared_seconds(path)
    if audio[0].get("codec_name") in codecs:
        if declared is not None:
            _check_whole(declared, _decoded_seconds(path, use, what, heartbeat), use)
        out = dest.with_suffix(ext)
        shutil.move(str(path), out)
        return out, False
    out = dest.with_suffix(".wav")
    _to_wav(path, out, use, what, heartbeat)
    if declared is not None:
        try:
            _check_whole(declared, _declared_seconds(out), use)  # a PCM WAV's header is its samples
        except CapabilityError:
            out.unlink(missing_ok=True)
            raise
    path.unlink(missing_ok=True)
    return out, True


def _declared_seconds(path: Path) -> float | None:
    """How long the file says its first audio stream is (header, index, STREAMINFO, last Ogg
    page), or None when ffprobe can only estimate it from the bitrate (an MP3 without a Xing
    header, raw AAC: for a VBR file that estimate is wrong either way)."""
    try:
        proc = subprocess.run(["ffprobe", "-v", "warning", "-select_streams", "a:0",
                               "-show_entries", "stream=duration:format=duration", "-of", "json", str(path)],
                              capture_output=True, text=True, timeout=30)
        data = json.loads(proc.stdout or "{}") if proc.returncode == 0 else {}
    except (subprocess.TimeoutExpired, ValueError):
        return None
    if "estimating duration from bitrate" in proc.stderr.lower():
        return None
    streams = data.get("streams") or [{}]
    for value in (streams[0].get("duration"), data.get("format", {}).get("duration")):
        try:
            return float(value)
        except (TypeError, ValueError):
            continue
    return None


def _check_wav_data(path: Path, use: str) -> None:
    """A `bad_asset` when a WAV's data chunk says it holds more bytes than the file has. (ffprobe
    then only estimates the length from what is there, so the decode check cannot see it.)"""
    size = path.stat().st_size
    with open(path, "rb") as f:
        if f.read(12)[8:] != b"WAVE":
            return
        while True:
            header = f.read(8)
            if len(header) < 8:
                return
            chunk, length = header[:4], int.from_bytes(header[4:], "little")
            if chunk == b"data":
                # 0 and 0xFFFFFFFF: a writer that could not seek back (a stream), or RF64's ds64 size
                if 0 < length < 0xFFFFFFFF and f.tell() + length > size:
                    raise CapabilityError(
                        BAD_ASSET,
                        f"{use}: the WAV's data is {length} bytes, {size - f.tell()} are in the file; the file is truncated",
                        http_status=422,
                    )
                return
            f.seek(length + (length & 1), 1)


def _decoded_seconds(path: Path, use: str, what: str, heartbeat: Callable[[], None]) -> float | None:
    """Where the first audio stream's decoded samples end, in seconds (a full decode)."""
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-nostats", "-i", str(path), "-map", "0:a:0",
           "-f", "null", "-progress", "pipe:1", "-"]
    _, out, _ = _ffmpeg(cmd, use, what, heartbeat)
    times = [line.split("=", 1)[1] for line in out.splitlines() if line.startswith("out_time_us=")]
    try:
        return int(times[-1]) / 1e6
    except (IndexError, ValueError):  # "N/A": nothing decoded
        return None


def _check_whole(declared: float, decoded: float | None, use: str) -> None:
    """A `bad_asset` when the audio stops well before the length its header gives: the file was
    cut short. Played as it was, the narration fell silent halfway (music looped its first part)
    in a job that "succeeded"."""
    if decoded is None:
        return
    if decoded < declared - max(TRUNCATED_AUDIO_SLACK_S, TRUNCATED_AUDIO_SLACK_FRACTION * declared):
        raise CapabilityError(
            BAD_ASSET,
            f"{use}: the audio stops at {decoded:.2f} s of the {declared:.2f} s its header gives; the file is truncated",
            http_status=422,
        )


def _to_wav(src: Path, out: Path, use: str, what: str, heartbeat: Callable[[], None]) -> None:
    """The first audio stream as 16-bit PCM: every decoded sample, none added or dropped
    (no resampling, no trimming; captions are timed against it), at the source's sample
    rate and channel count. RF64 past 4 GB."""
    cmd = [
        "ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src),
        "-map", "0:a:0", "-map_metadata", "-1", "-c:a", "pcm_s16le",
        "-fflags", "+bitexact", "-flags:a", "+bitexact", "-rf64", "auto", "-f", "wav", str(out),
    ]
    returncode, _, message = _ffmpeg(cmd, use, what, heartbeat)
    samples = _wav_samples(out) if returncode == 0 else 0
    if not samples:
        out.unlink(missing_ok=True)
        detail = f": {message[-1][:200]}" if message else ""
        raise CapabilityError(BAD_ASSET, f"{use}: the audio ({what}) cannot be decoded{detail}", http_status=422)


def _ffmpeg(cmd: list[str], use: str, what: str, heartbeat: Callable[[], None]) -> tuple[int, str, list[str]]:
    """Run an ffmpeg decode: (exit status, stdout, stderr lines). Heartbeats while it runs; a
    `bad_asset` past AUDIO_CONVERT_TIMEOUT_S (the process is killed on every path)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        deadline = time.monotonic() + AUDIO_CONVERT_TIMEOUT_S
        try:
            while True:
                try:
                    proc.wait(timeout=5)
                    break
                except subprocess.TimeoutExpired:
                    if time.monotonic() > deadline:
                        raise CapabilityError(BAD_ASSET, f"{use}: decoding the audio ({what}) took over {AUDIO_CONVERT_TIMEOUT_S} s", http_status=422) from None
                    heartbeat()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        out.seek(0)
        err.seek(0)
        return (proc.returncode, out.read().decode("utf-8", "replace"),
                err.read().decode("utf-8", "replace").strip().splitlines())


def _wav_samples(path: Path) -> int:
    try:
        return int(_ffprobe(["-select_streams", "a:0", "-show_entries", "stream=duration_ts"], path)["streams"][0]["duration_ts"])
    except (ValueError, KeyError, IndexError, TypeError):
        return 0
