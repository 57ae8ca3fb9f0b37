"""Frame test: at sampled times the right scene is on screen and the spoken word is highlighted.

Scenes are solid colours; the highlight is a known colour (magenta). Every frame of a
short render is decoded. For each word the highlight box must appear within +-1 frame
of the word's first frame (`ceil(startMs * fps / 1000)`), sit at that word's place on
its caption page (left to right in spoken order) and be as wide as that word relative
to its page mates (longer word, wider box). Through the 30 ms silences between words the
word stays lit until the next starts (no blink, across a page turn too); the 540 ms pause
clears the highlight and the page, and the next word starts a new page, as does the word
after a sentence end.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from render_support import HIGHLIGHT, SCENE_COLOURS, decode_frames

FPS = 30
# Words of clearly different lengths, 380 ms each. A page ends at a sentence end, at a pause
# (>= the composition's 300 ms) or once it spans more than 1200 ms: here a 540 ms pause
# after "tea", then 30 ms silences only, and a sentence ending at "up.".
# Pages: go elephant tea | lamp up. | Cake a morning.
WORDS = ["go", "elephant", "tea", "lamp", "up.", "Cake", "a", "morning"]  # "up." ends a sentence: "Cake" starts one
WORD_MS = 380
PAUSE_MS = 300
STARTS = [150 + 410 * i for i in range(3)] + [1890 + 410 * i for i in range(5)]
LONG_PAUSE_AFTER = 2
SCENES = [("red", 0, 1100, "cut"), ("green", 1100, 2300, "fade"), ("blue", 2300, 4000, "slide")]
DURATION = 4000
TRANSITION_MS = 200


def _timeline(assets, aspect: str) -> dict:
    return {
        "aspectRatio": aspect,
        "resolution": 360,
        "fps": FPS,
        "durationMs": DURATION,
        "title": None,
        "transitionMs": TRANSITION_MS,
        "highlightColor": "#%02X%02X%02X" % HIGHLIGHT,
        "scenes": [
            {"image": str(assets[c]), "startMs": s, "endMs": e, "transition": tr,
             "kenBurnsFrom": {"zoom": 1.0}, "kenBurnsTo": {"zoom": 1.3, "x": 0.3, "y": 0.6}}
            for c, s, e, tr in SCENES
        ],
        "captions": [{"text": w, "startMs": s, "endMs": s + WORD_MS} for w, s in zip(WORDS, STARTS)],
        "narration": str(assets["narration"]),
    }


def _highlight_mask(frame: np.ndarray) -> np.ndarray:
    return np.abs(frame.astype(np.int16) - np.array(HIGHLIGHT, dtype=np.int16)).max(axis=2) < 60


def _highlight_box(frame: np.ndarray):
    """(x_centre, width) of the highlight-coloured pixels, or None."""
    mask = _highlight_mask(frame)
    if mask.sum() < 30:
        return None
    cols = np.nonzero(mask.any(axis=0))[0]
    return (cols[0] + cols[-1]) / 2.0, cols[-1] - cols[0] + 1


def _highlight_rows(frame: np.ndarray) -> tuple[int, int]:
    """(top, bottom) rows of the highlight-coloured pixels."""
    rows = np.nonzero(_highlight_mask(frame).any(axis=1))[0]
    return int(rows[0]), int(rows[-1])


def _caption_text(frame: np.ndarray) -> bool:
    """White caption text anywhere in the frame (the scenes are solid red, green or blue)."""
    return int((frame.min(axis=2) > 225).sum()) > 30


def _scene_colour_ok(frame: np.ndarray, name: str) -> bool:
    patch = frame[8:48, 8:48].reshape(-1, 3).astype(np.int16)  # top-left: no captions there
    return bool((np.abs(patch.mean(axis=0) - np.array(SCENE_COLOURS[name])) < 25).all())


def _pages() -> list[list[int]]:
    """Word indexes per page, by the composition's rules (sentence end, pause, 1200 ms span)."""
    pages: list[list[int]] = []
    current: list[int] = []
    start = end = 0.0
    for i, s in enumerate(STARTS):
        if current and (WORDS[current[-1]].endswith(".") or end - start > 1200 or s - end >= PAUSE_MS):
            pages.append(current)
            current = []
        if not current:
            start = s
        current.append(i)
        end = s + WORD_MS
    pages.append(current)
    return pages


@pytest.mark.parametrize("aspect,size", [("16:9", (640, 360)), ("9:16", (360, 640))])
def test_scenes_and_highlighted_words_follow_the_timeline(run_render, store, assets, tmp_path, aspect, size):
    result, _, _ = run_render({"timeline": _timeline(assets, aspect)})
    out = tmp_path / "frames.mp4"
    store.get_to_file(result.video.key, out)
    frames = decode_frames(out, *size)
    assert len(frames) == math.floor(DURATION * FPS / 1000 + 0.5)

    # 1. The right scene image at sampled times across the render (mid-scene and just
    #    after each transition has finished, just before each scene ends).
    for name, start, end, _ in SCENES:
        for t in (start + TRANSITION_MS + 60, (start + end) / 2, end - 60):
            f = int(t * FPS / 1000)
            assert _scene_colour_ok(frames[f], name), f"{aspect}: frame {f} ({t:.0f} ms) should show {name}"

    # 2. The highlighted word is the one being spoken.
    boxes = [_highlight_box(f) for f in frames]
    first_frame = [math.ceil(s * FPS / 1000) for s in STARTS]
    centre, width = {}, {}
    for i, (s, f0) in enumerate(zip(STARTS, first_frame)):
        mid = int((s + WORD_MS / 2) * FPS / 1000)  # middle of the word
        assert boxes[mid] is not None, f"{aspect}: no highlight while {WORDS[i]!r} is spoken (frame {mid})"
        centre[i], width[i] = boxes[mid]
        # the same box throughout the word
        last = int((s + WORD_MS) * FPS / 1000) - 1
        for f in range(f0 + 1, last):
            assert boxes[f] is not None and abs(boxes[f][0] - centre[i]) < 3, f"{aspect}: highlight moved during {WORDS[i]!r} (frame {f})"

    pages = _pages()
    assert [len(p) for p in pages] == [3, 2, 3]
    for words in pages:
        xs = [centre[i] for i in words]
        assert xs == sorted(xs) and len(set(xs)) == len(xs), f"{aspect}: highlight order on page {[WORDS[i] for i in words]} is {xs}"
        longest = max(words, key=lambda i: len(WORDS[i]))
        shortest = min(words, key=lambda i: len(WORDS[i]))
        assert width[longest] == max(width[i] for i in words) and width[shortest] == min(width[i] for i in words), (
            f"{aspect}: highlight widths {[(WORDS[i], width[i]) for i in words]} do not follow the words' lengths"
        )

    # 2b. Captions sit low in landscape, and in portrait above the bottom quarter that
    #     Shorts, Reels and TikTok cover with their own interface.
    rows = [_highlight_rows(frames[int((s + WORD_MS / 2) * FPS / 1000)]) for s in STARTS]
    lowest = max(r[1] for r in rows) / size[1]
    if aspect == "9:16":
        assert 0.6 < lowest < 0.75, f"{aspect}: captions reach {lowest:.0%} of the height, into the app overlay zone"
    else:
        assert lowest > 0.8, f"{aspect}: captions end at {lowest:.0%} of the height, expected near the bottom"

    # 3. The highlight moves onto each word within +-1 frame of its start.
    for i, f0 in enumerate(first_frame):
        at_word = [f for f in range(max(0, f0 - 3), min(len(frames), f0 + 4))
                   if boxes[f] is not None and abs(boxes[f][0] - centre[i]) < 3]
        assert at_word, f"{aspect}: {WORDS[i]!r} never highlighted near frame {f0}"
        assert abs(at_word[0] - f0) <= 1, f"{aspect}: {WORDS[i]!r} highlighted from frame {at_word[0]}, expected {f0} +-1"

    # 4. No blink between words: through a silence shorter than the pause the word stays
    #    lit on every frame until the next word starts, across the page turn after "up."
    #    too (a page shows until its last word ends). The pause after "tea"
    #    clears the highlight and the page (no caption text at all) until "lamp" starts.
    for i in range(len(WORDS) - 1):
        if i == LONG_PAUSE_AFTER:
            after_end = math.ceil((STARTS[i] + WORD_MS) * FPS / 1000)
            pause = range(after_end + 1, first_frame[i + 1] - 1)
            lit = [f for f in pause if boxes[f] is not None]
            assert not lit, f"{aspect}: highlight still on during the pause after {WORDS[i]!r} (frames {lit})"
            shown = [f for f in pause if _caption_text(frames[f])]
            assert not shown, f"{aspect}: a caption page still on screen during the pause after {WORDS[i]!r} (frames {shown})"
            assert _caption_text(frames[first_frame[i] + 2]), f"{aspect}: no caption text detected while {WORDS[i]!r} is spoken"
            continue
        for f in range(first_frame[i], first_frame[i + 1]):
            assert boxes[f] is not None and abs(boxes[f][0] - centre[i]) < 3, (
                f"{aspect}: frame {f} ({f * 1000 / FPS:.0f} ms) between {WORDS[i]!r} and {WORDS[i + 1]!r} "
                f"should keep {WORDS[i]!r} lit, got {boxes[f]}")


def test_arabic_words_run_right_to_left_and_chinese_and_thai_words_stand_together(run_render, store, assets, tmp_path):
    """A page of Arabic is laid out right to left (its first word on the right), and on a Hebrew page
    "New York 2024" still reads left to right; the characters of a Chinese caption run and the words
    of a Thai one (no leading space, as the aligner gives them) stand together, with no gap. Thai is
    drawn in a Thai font: its vowel and tone marks sit on their letter ("ที่" as wide as "ท"), where a
    missing font would draw a box for each. An emoji riding with its word is drawn in colour."""
    arabic = [("القمر", 100), (" يجذب", 530), (" الماء.", 960)]  # a sentence: its own page
    chinese = [(" 月", 1700), ("球", 1950), ("引", 2200), ("力。", 2450)]
    thai = [(" วัน", 2900), ("นี้", 3150), ("เรา", 3400)]
    marks = [(" ท.", 3800), (" ที่.", 4200)]  # each a sentence: its own page
    hebrew = [(" שלום", 4700), (" New", 4950), (" York", 5200), (" 2024", 5450), (" עולם.", 5700)]
    emoji = [(" sea 🌊", 6100)]
    timeline = {**_timeline(assets, "16:9"), "resolution": 720, "durationMs": 6500, "scenes": [
        {"image": str(assets["red"]), "startMs": 0, "endMs": 6500, "transition": "cut"}],
        "captions": [{"text": t, "startMs": s, "endMs": s + 230} for t, s in arabic + chinese + thai + marks + hebrew + emoji]}
    result, _, _ = run_render({"timeline": timeline})
    out = tmp_path / "scripts.mp4"
    store.get_to_file(result.video.key, out)
    frames = decode_frames(out, 1280, 720)

    def box(start_ms: int) -> tuple[int, int]:
        mask = _highlight_mask(frames[int((start_ms + 115) * FPS / 1000)])
        cols = np.nonzero(mask.any(axis=0))[0]
        assert cols.size, f"no highlight at {start_ms} ms"
        return int(cols[0]), int(cols[-1])

    def gaps(words: list[tuple[str, int]]) -> list[int]:
        boxes = [box(s) for _, s in words]
        return [l1 - r0 for (_, r0), (l1, _) in zip(boxes, boxes[1:])]

    ar = [box(s) for _, s in arabic]
    word_gaps = [ar[0][0] - ar[1][1], ar[1][0] - ar[2][1]]  # right to left: each word left of the one before
    assert min(word_gaps) > 0, f"Arabic boxes {ar} should run right to left"
    char_gaps = gaps(chinese) + gaps(thai)
    # the pills touch (1-3 px of blur at their rounded edges, measured), in reading order, while words
    # stand the composition's gap apart (a fifth of the font size: 9 px here, measured 11-13)
    assert all(-1 <= g <= 4 for g in char_gaps) and min(word_gaps) >= 8, f"gaps: joined {char_gaps}, words {word_gaps}"
    (l0, r0), (l1, r1) = box(marks[0][1]), box(marks[1][1])
    he = {t.strip(" ."): box(s) for t, s in hebrew}  # left to right on screen: עולם New York 2024 שלום
    assert he["עולם"][1] < he["New"][0] < he["York"][0] < he["2024"][0] < he["שלום"][0], f"Hebrew page boxes {he}"
    frame = frames[int((emoji[0][1] + 115) * FPS / 1000)]
    rows = np.nonzero(_highlight_mask(frame).any(axis=1))[0]
    (left, right) = box(emoji[0][1])
    pill = frame[rows[0]:rows[-1] + 1, left:right + 1].astype(np.int16)
    blue = (pill[..., 2] > 120) & (pill[..., 2] > pill[..., 0] + 60)  # the wave's water, on a yellow pill
    assert blue.sum() >= 30, f"{blue.sum()} blue pixels in the '🌊' pill: no colour emoji font?"
    # measured 45 against 43 px; with no Thai font the three boxes make 'ที่' 107 px
    assert abs((r1 - l1) - (r0 - l0)) <= 4, f"'ที่' is {r1 - l1} px wide, 'ท' {r0 - l0}: its marks took room of their own"
