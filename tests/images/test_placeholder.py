"""The placeholder: valid PNG, requested aspect ratio, deterministic, prompt-derived, legible."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import pytest
from PIL import Image

from modal_functions.contract.images import ImageStyle
from modal_functions.images.placeholder import (
    SAFE_INSET,
    SIZES,
    TEXT_COLOUR,
    _font,
    contrast,
    layout_text,
    palette_for,
    panel_colour,
    render_placeholder,
)


def decode(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


@pytest.mark.parametrize("aspect", list(SIZES))
def test_valid_png_at_the_requested_aspect_ratio(aspect):
    ph = render_placeholder("a lighthouse on a cliff", ImageStyle(aspect_ratio=aspect))
    im = decode(ph.data)
    assert im.format == "PNG" and im.mode == "RGB"
    assert im.size == (ph.width, ph.height)
    w, h = (int(x) for x in aspect.split(":"))
    assert Fraction(*im.size) == Fraction(w, h)
    assert min(im.size) >= 720


def test_same_prompt_same_bytes_different_prompt_different_picture():
    style = ImageStyle(palette=["#0b3d91", "#fc3d21", "#ffffff"])
    a1 = render_placeholder("a red fox in the snow", style)
    a2 = render_placeholder("a red fox in the snow", style)
    b = render_placeholder("a blue whale in the deep", style)
    assert a1.data == a2.data
    assert a1.data != b.data
    # the composition (above the text panel) differs, not just the caption
    top = (0, 0, a1.width, a1.height // 2)
    assert decode(a1.data).crop(top).tobytes() != decode(b.data).crop(top).tobytes()


def test_compositions_vary_across_prompts():
    style = ImageStyle()
    tops = {decode(render_placeholder(f"scene number {i}", style).data).crop((0, 80, 1280, 360)).tobytes() for i in range(4)}
    assert len(tops) == 4


def test_palette_comes_from_the_style():
    style = ImageStyle(palette=["#ff0000", "#0000ff"])
    assert palette_for(style) == [(255, 0, 0), (0, 0, 255)]
    # no palette: derived from the art style, stable, and different per art style
    assert palette_for(ImageStyle(art_style="watercolour")) == palette_for(ImageStyle(art_style="watercolour"))
    assert palette_for(ImageStyle(art_style="watercolour")) != palette_for(ImageStyle(art_style="pixel art"))


def test_background_top_uses_first_palette_colour():
    im = decode(render_placeholder("anything", ImageStyle(palette=["#10a010", "#10a010"], aspect_ratio="1:1")).data)
    corner = im.getpixel((im.width - 3, im.height // 3))
    assert corner[1] > corner[0] and corner[1] > corner[2]  # green dominates, shapes or not


@pytest.mark.parametrize("aspect", list(SIZES))
def test_prompt_text_is_legible(aspect):
    prompt = "A hummingbird drinking nectar from a bright red flower while rain falls softly"
    w, h = SIZES[aspect]
    layout = layout_text(prompt, w, h)
    assert not layout.truncated and " ".join(layout.lines) == prompt  # every word, in order
    assert layout.font_size >= 24
    font = _font(layout.font_size, bold=True)
    left, top, right, bottom = layout.box
    assert all(font.getlength(line) <= right - left - 2 * layout.font_size for line in layout.lines)
    assert 0 <= left and right <= w and 0 <= top and bottom <= h
    # white on the panel colour, for any palette, is high contrast (WCAG AAA is 7)
    for palette in ([], ["#ffffff", "#ffff00"], ["#0b3d91", "#fc3d21"]):
        colours = palette_for(ImageStyle(palette=palette))
        assert contrast(TEXT_COLOUR, panel_colour(colours)) >= 7
    # and the panel is really drawn with that colour
    im = decode(render_placeholder(prompt, ImageStyle(aspect_ratio=aspect, palette=["#ffffff", "#ffff00"])).data)
    assert im.getpixel((left + 3, bottom - layout.font_size // 2)) == panel_colour(palette_for(ImageStyle(palette=["#ffffff", "#ffff00"])))


def test_very_long_prompt_is_shrunk_then_ellipsised_inside_the_panel():
    prompt = " ".join(f"word{i}" for i in range(500))
    layout = layout_text(prompt, 1280, 720)
    assert layout.truncated and layout.lines[-1].endswith("…")
    assert layout.box[1] > 0 and layout.font_size >= 14
    one_word = layout_text("x" * 1500, 720, 1280)
    assert one_word.truncated and all(_font(one_word.font_size, bold=True).getlength(l) <= 720 for l in one_word.lines)


@pytest.mark.parametrize("aspect", ["9:16", "3:4"])
def test_the_badge_stays_inside_a_portrait_frame(aspect):
    """The badge's yellow text ran off the right edge for longer art styles."""
    style = ImageStyle(aspect_ratio=aspect, art_style="hand-drawn watercolour storybook illustration")
    im = decode(render_placeholder("a lighthouse", style).data)
    size = max(12, round(min(im.size) / 36))
    m = round(min(im.size) * SAFE_INSET)
    badge_rows = range(m, m + round(size * 1.7))
    right_edge = [im.getpixel((im.width - 1 - dx, y)) for y in badge_rows for dx in range(3)]
    assert (255, 214, 10) not in right_edge and (0, 0, 0) not in right_edge


# ## Scripts: per-character fonts, never tofu

from PIL import ImageDraw  # noqa: E402

from modal_functions.images import placeholder  # noqa: E402

CJK = "一只猫在雨中散步 雨の中を歩く猫 비 오는 날의 고양이"
needs_cjk_font = pytest.mark.skipif(placeholder.cjk_font_path() is None, reason="no CJK font installed (apt-get install fonts-wqy-microhei)")


@pytest.fixture
def fresh_fonts():
    placeholder._font.cache_clear()
    yield
    placeholder._font.cache_clear()


def panel_pixels(prompt: str) -> bytes:
    """The text panel of the placeholder (opaque, so only the text differs between prompts)."""
    style = ImageStyle(aspect_ratio="16:9", palette=["#204060", "#406080"])
    layout = layout_text(prompt, 1280, 720)
    left, top, right, bottom = layout.box
    inset = layout.font_size  # clear of the rounded corners (the background shows there), not of the text
    return decode(render_placeholder(prompt, style).data).crop((left + inset, top, right - inset, bottom)).tobytes()


def ink(font, text: str) -> bytes:
    img = Image.new("L", (400, 80))
    font.draw(ImageDraw.Draw(img), (0, 0), text, 255)
    return img.tobytes()


@needs_cjk_font
def test_a_cjk_prompt_is_drawn_with_real_glyphs(fresh_fonts):
    font = _font(40, bold=True)
    # each of these draws as itself: distinct pictures, none of them the .notdef box
    tofu = ink(font, "\U0010FFFD")
    glyphs = {ch: ink(font, ch) for ch in "猫狗雨のを비고"}
    assert len(set(glyphs.values())) == len(glyphs) and tofu not in glyphs.values()
    # the whole prompt is kept, and two CJK prompts differ in the rendered panel (tofu would not)
    assert " ".join(layout_text(CJK, 1280, 720).lines) == CJK
    assert panel_pixels("一只猫") != panel_pixels("一只狗")


@needs_cjk_font
def test_each_character_takes_the_first_font_that_has_it(fresh_fonts):
    font = _font(40, bold=True)
    dejavu, cjk = font.faces
    assert [(seg, face) for seg, face in font.runs("a cat 猫 in rain 雨")] == [
        ("a cat ", dejavu), ("猫 ", cjk), ("in rain ", dejavu), ("雨", cjk)]
    assert Path(dejavu.path).name == "DejaVuSans-Bold.ttf"
    assert font.getlength("ab猫") == pytest.approx(dejavu.getlength("ab") + cjk.getlength("猫"))


def test_without_a_cjk_font_the_text_it_cannot_draw_is_marked_not_tofu(fresh_fonts, monkeypatch, caplog):
    monkeypatch.setattr(placeholder, "cjk_font_path", lambda: None)
    layout = layout_text("一只猫 a cat in the rain 🙂 ok", 1280, 720)
    assert " ".join(layout.lines) == "[…] a cat in the rain […] ok"
    font = _font(layout.font_size, bold=True)
    assert len(font.faces) == 1 and all(font.face_index(ch) is not None for ch in " ".join(layout.lines))
    ph = render_placeholder("一只猫 雨の中 비", ImageStyle(art_style="水彩画"))  # nothing but markers: no crash
    assert decode(ph.data).size == (1280, 720)
    assert panel_pixels("一只猫") == panel_pixels("一只狗")  # both "[…]": no per-character boxes
    assert "fonts-wqy-microhei" in caplog.text


def test_emoji_no_font_has_are_marked_too(fresh_fonts):
    assert layout_text("a party 🎉🎈 tonight", 1280, 720).lines == ["a party […] tonight"]
