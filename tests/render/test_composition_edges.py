"""Edges of the Explainer composition, rendered for real (tiny 360p timelines): music shorter
than the video, a caption word wider than the frame, a word of no length, a zoomed scene sliding in."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from render_support import HIGHLIGHT, decode_audio, decode_frames


def _timeline(assets, **over) -> dict:
    t = {
        "aspectRatio": "16:9",
        "resolution": 360,
        "fps": 24,
        "durationMs": 3000,
        "title": None,
        "scenes": [{"image": str(assets["red"]), "startMs": 0, "endMs": 3000, "transition": "cut"}],
        "highlightColor": "#%02X%02X%02X" % HIGHLIGHT,
    }
    t.update(over)
    return t


def _tone_level(pcm: np.ndarray, start_ms: float, end_ms: float, hz: float) -> float:
    """Amplitude of the `hz` sine in pcm[start_ms:end_ms] (48 kHz), whatever its phase."""
    a, b = int(start_ms * 48), int(end_ms * 48)
    x, tt = pcm[a:b], np.arange(a, b) / 48000.0
    return float(np.hypot((x * np.sin(2 * np.pi * hz * tt)).mean(), (x * np.cos(2 * np.pi * hz * tt)).mean()))


def test_looped_music_is_ducked_under_words_after_its_first_loop(run_render, store, assets, tmp_path):
    """Music of 1 s loops under a 3 s video: the word spoken in the third loop ducks it, and the
    first loop, where nobody speaks, is not ducked. (A volume curve that repeats with the loop
    ducked by the first loop's times instead: loud under the word, as if nobody spoke.)"""
    narration, music = tmp_path / "n.wav", tmp_path / "m.wav"
    subprocess.run(["sox", "-n", "-r", "48000", "-c", "1", str(narration), "synth", "3", "sine", "200", "vol", "0.3"], check=True)
    subprocess.run(["sox", "-n", "-r", "48000", "-c", "1", str(music), "synth", "1", "sine", "440", "vol", "0.8"], check=True)
    t = _timeline(assets, narration=str(narration), music=str(music), musicVolume=0.25, musicDuckedVolume=0.08,
                  captions=[{"text": "late", "startMs": 2000, "endMs": 2700}])
    result, _, _ = run_render({"timeline": t})
    out = tmp_path / "loop.mp4"
    store.get_to_file(result.video.key, out)
    pcm = decode_audio(out)[:, 0].astype(np.float64)

    quiet = _tone_level(pcm, 300, 700, 440)  # first loop, 1.3 s before the word's ramp
    spoken = _tone_level(pcm, 2150, 2550, 440)  # third loop, inside the word
    assert quiet > 100
    assert spoken / quiet == pytest.approx(0.08 / 0.25, abs=0.06)


@pytest.mark.parametrize("aspect,size", [("9:16", (360, 640)), ("1:1", (360, 360))])
def test_a_caption_word_wider_than_the_frame_wraps_inside_it(run_render, store, assets, tmp_path, aspect, size):
    """A word wider than the caption block (a German compound, a web address) breaks onto more lines
    inside the frame, as the title does, instead of running off both edges with its ends cut."""
    word = "Donaudampfschifffahrtsgesellschaftskapitänsmütze"
    t = _timeline(assets, aspectRatio=aspect, durationMs=1000,
                  scenes=[{"image": str(assets["blue"]), "startMs": 0, "endMs": 1000, "transition": "cut"}],
                  captions=[{"text": word, "startMs": 100, "endMs": 900}])
    result, _, _ = run_render({"timeline": t})
    out = tmp_path / "long-word.mp4"
    store.get_to_file(result.video.key, out)
    frame = decode_frames(out, *size)[12]  # 500 ms: the word is lit
    mask = np.abs(frame.astype(np.int16) - np.array(HIGHLIGHT, dtype=np.int16)).max(axis=2) < 60
    cols = np.nonzero(mask.any(axis=0))[0]
    rows = np.nonzero(mask.any(axis=1))[0]
    width = size[0]
    assert cols.size, "the word is not highlighted"
    assert cols[0] >= 0.04 * width and cols[-1] <= 0.96 * width, (
        f"{aspect}: the word's box spans columns {cols[0]}..{cols[-1]} of {width}: it runs off the frame")
    assert rows[-1] - rows[0] > 2 * 0.065 * width, f"{aspect}: the word should wrap onto several lines"


def test_a_word_of_no_length_leaves_no_stale_word_on_later_pages(run_render, store, assets, tmp_path):
    """Two words may start on the same millisecond when the first has no length (start == end: the
    timeline allows it, and the aligner gives a word it cannot time that way). Both show on their page,
    and the next page shows its own words only: keyed by start time, the React children collided and
    the zero-length word stayed on screen, unlit, on every page after its own."""
    t = _timeline(assets, durationMs=1500, scenes=[{"image": str(assets["red"]), "startMs": 0, "endMs": 1500}], captions=[
        {"text": "go", "startMs": 200, "endMs": 200}, {"text": " now.", "startMs": 200, "endMs": 600},
        {"text": " Zed", "startMs": 650, "endMs": 1400}])
    result, _, _ = run_render({"timeline": t})
    out = tmp_path / "zero-length.mp4"
    store.get_to_file(result.video.key, out)
    frames = decode_frames(out, 640, 360)
    unlit = np.array([121, 17, 17], dtype=np.int16)  # a word's dark pill over the red scene

    def pills(ms: int) -> int:
        return int((np.abs(frames[int(ms * 24 / 1000)].astype(np.int16) - unlit).max(axis=2) < 25).sum())

    assert pills(400) > 100, "the zero-length word should show, unlit, beside the word being spoken"
    assert pills(1000) == 0, "a word of an earlier page is still on screen beside 'Zed'"


@pytest.mark.parametrize("framing", [{"zoom": 2.0, "x": 1.0, "y": 0.5}, {"zoom": 1.5, "x": 0.5, "y": 0.5}])
def test_a_zoomed_scene_slides_in_from_the_edge(run_render, store, assets, tmp_path, framing):
    """A scene that slides in starting zoomed in covers only the part of the frame its slide has
    reached: its enlarged image is cut at the scene's edge. (Unclipped, the zoomed image stuck out
    past the sliding edge, up to the whole frame: a slide that began as a cut.)"""
    t = _timeline(assets, durationMs=2000, transitionMs=1000, scenes=[
        {"image": str(assets["red"]), "startMs": 0, "endMs": 1000, "transition": "cut",
         "kenBurnsFrom": {"zoom": 1.0}, "kenBurnsTo": {"zoom": 1.0}},
        {"image": str(assets["blue"]), "startMs": 1000, "endMs": 2000, "transition": "slide",
         "kenBurnsFrom": framing, "kenBurnsTo": framing}])
    result, _, _ = run_render({"timeline": t})
    out = tmp_path / "slide.mp4"
    store.get_to_file(result.video.key, out)
    frames = decode_frames(out, 640, 360)
    for f in (24, 30, 36):  # 0, 25 and 50 % into the slide
        row = frames[f, 180].astype(np.int16)
        blue = np.nonzero(np.abs(row - np.array([30, 60, 220])).max(axis=1) < 40)[0]
        edge = 640 * (1 - (f - 24) / 24)  # where the sliding scene's left edge is
        covered = int(blue.size)
        assert covered <= 640 - edge + 4, f"frame {f}: the new scene covers {covered} px, its slide has reached {640 - edge:.0f}"
