"""The local placeholder generator: a deterministic, styled PNG that says what it stands for.

Used when no provider is configured (the local demo) or when IMAGE_FALLBACK=placeholder
lets a failed prompt through. It must be obviously a placeholder, yet useful in a draft
render:

- the requested aspect ratio (a 16:9 scene gets a 16:9 picture);
- a composition derived from the prompt (layout and shapes seeded by its hash), so
  different prompts look different and the same prompt always gives the same bytes;
- the palette from the style (or one derived from the art style's name);
- the prompt itself, legible: white bold text on an opaque dark panel, wrapped and
  shrunk to fit, ellipsised only as a last resort; placed where a render's captions and
  Ken Burns crop leave it visible; in any script: each character is drawn by the first
  font that has a glyph for it (DejaVu Sans for Latin, Greek, Cyrillic; a CJK font for
  Chinese, Japanese and Korean), and text no installed font covers becomes a visible
  "[…]" instead of tofu boxes.

Placeholders are never cached; a result containing one is `degraded`.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import logging
import random
import threading
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ..contract.images import ImageStyle

MODEL = "placeholder-v1"
SIZES: dict[str, tuple[int, int]] = {
    "16:9": (1280, 720),
    "9:16": (720, 1280),
    "1:1": (1024, 1024),
    "4:3": (1024, 768),
    "3:4": (768, 1024),
}
# Fonts, in order of preference per character. DejaVu Sans: Debian's fonts-dejavu-core;
# Pillow's own font if it is missing. CJK: Debian's fonts-wqy-microhei (WenQuanYi Micro
# Hei, ~5 MB: Chinese, Japanese kana, Hangul); both are in the Makefile's APT_PKGS, the
# Modal cpu_image and docker-compose's image, so placeholders are the same bytes everywhere.
# fonts-noto-cjk would do too (it is read if present) but is ~90 MB: too much for a stand-in.
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
CJK_FONTS = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),  # fonts-wqy-microhei
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),  # fonts-wqy-zenhei
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),  # fonts-noto-cjk
    Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),  # fonts-droid-fallback
)
CJK_PACKAGE = "fonts-wqy-microhei"
MISSING_MARK = "[…]"  # stands for a run of characters no installed font can draw
DEFAULT_FONT = "pillow-default"
_NOTDEF_PROBE = "\U0010FFFD"  # a private-use code point no font maps: its rendering is .notdef's
_PROBE_SIZE = 24
log = logging.getLogger(__name__)
TEXT_COLOUR = (255, 255, 255)
LAYOUTS = ("orbs", "bands", "peaks", "grid")
_LOCK = threading.Lock()


@dataclass(frozen=True)
class TextLayout:
    lines: list[str]
    font_size: int
    box: tuple[int, int, int, int]  # panel: left, top, right, bottom
    truncated: bool


@dataclass(frozen=True)
class Placeholder:
    data: bytes
    width: int
    height: int
    ext: str = "png"
    content_type: str = "image/png"


def render_placeholder(prompt: str, style: ImageStyle) -> Placeholder:
    with _LOCK:  # FreeType faces are shared and not thread-safe; rendering takes milliseconds
        return _render(prompt, style)


def _render(prompt: str, style: ImageStyle) -> Placeholder:
    width, height = SIZES[style.aspect_ratio]
    seed = hashlib.sha256(f"{prompt}\x00{style.art_style}".encode()).digest()
    rng = random.Random(int.from_bytes(seed[:8], "big"))
    colours = palette_for(style)

    img = _background(width, height, colours)
    _composition(img, rng, colours, LAYOUTS[seed[8] % len(LAYOUTS)])
    layout = layout_text(prompt, width, height)
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle(layout.box, radius=max(8, layout.font_size // 2), fill=panel_colour(colours))
    font = _font(layout.font_size, bold=True)
    pad = layout.font_size
    y = layout.box[1] + pad
    for line in layout.lines:
        font.draw(draw, (layout.box[0] + pad, y), line, TEXT_COLOUR)
        y += _line_height(layout.font_size)
    _badge(draw, width, height, f"PLACEHOLDER · {style.art_style}"[:80])

    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)  # no timestamps or metadata: same input, same bytes
    return Placeholder(buf.getvalue(), width, height)


# ## Colour


def palette_for(style: ImageStyle) -> list[tuple[int, int, int]]:
    """The style's palette, or four harmonious colours derived from the art style's name."""
    if style.palette:
        colours = [_hex(c) for c in style.palette]
        return colours if len(colours) > 1 else colours + [_shade(colours[0], 0.55)]
    h = hashlib.sha256(style.art_style.encode()).digest()
    base = h[0] / 255
    out = []
    for i, (dh, s, v) in enumerate(((0.0, 0.55, 0.85), (0.08, 0.65, 0.55), (0.5, 0.45, 0.9), (0.58, 0.6, 0.35))):
        r, g, b = colorsys.hsv_to_rgb((base + dh + h[i + 1] / 2550) % 1.0, s, v)
        out.append((round(r * 255), round(g * 255), round(b * 255)))
    return out


def panel_colour(colours: list[tuple[int, int, int]]) -> tuple[int, int, int]:
    """The darkest palette colour, darkened until white text on it is AAA-legible (contrast >= 7)."""
    darkest = min(colours, key=luminance)
    factor = 1.0
    while contrast(TEXT_COLOUR, _shade(darkest, factor)) < 10 and factor > 0:
        factor = round(factor - 0.05, 2)
    return _shade(darkest, max(factor, 0))


def luminance(c: tuple[int, int, int]) -> float:
    def ch(v: int) -> float:
        s = v / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = c[:3]
    return 0.2126 * ch(r) + 0.7152 * ch(g) + 0.0722 * ch(b)


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _hex(c: str) -> tuple[int, int, int]:
    c = c.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def _shade(c: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(max(0, min(255, round(v * factor))) for v in c[:3])  # type: ignore[return-value]


# ## Picture


def _background(w: int, h: int, colours: list[tuple[int, int, int]]) -> Image.Image:
    top, bottom = colours[0], _shade(colours[1], 0.8)
    column = Image.new("RGB", (1, h))
    column.putdata([tuple(round(a + (b - a) * y / max(1, h - 1)) for a, b in zip(top, bottom)) for y in range(h)])
    return column.resize((w, h), Image.Resampling.NEAREST)


def _composition(img: Image.Image, rng: random.Random, colours: list[tuple[int, int, int]], layout: str) -> None:
    w, h = img.size
    s = min(w, h)
    overlay = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(overlay)
    pick = lambda: colours[rng.randrange(len(colours))]  # noqa: E731
    if layout == "orbs":
        for _ in range(rng.randint(5, 9)):
            r = rng.uniform(0.06, 0.28) * s
            x, y = rng.uniform(0, w), rng.uniform(0, h * 0.7)
            d.ellipse((x - r, y - r, x + r, y + r), fill=(*pick(), rng.randint(110, 200)))
    elif layout == "bands":
        n = rng.randint(4, 7)
        for i in range(n):
            y0 = h * i / n + rng.uniform(-0.04, 0.04) * h
            d.polygon(
                [(0, y0), (w, y0 + rng.uniform(-0.2, 0.2) * h), (w, y0 + 0.12 * h), (0, y0 + rng.uniform(0.05, 0.2) * h)],
                fill=(*pick(), rng.randint(90, 170)),
            )
    elif layout == "peaks":
        for layer in range(3):
            base = h * (0.45 + 0.12 * layer)
            pts = [(0, h), (0, base)]
            x = 0.0
            while x < w:
                x += rng.uniform(0.08, 0.22) * w
                pts.append((min(x, w), base - rng.uniform(0.05, 0.3) * h))
            pts += [(w, base), (w, h)]
            d.polygon(pts, fill=(*_shade(pick(), 1.0 - 0.2 * layer), 200))
        r = 0.08 * s
        cx, cy = rng.uniform(0.15, 0.85) * w, rng.uniform(0.1, 0.3) * h
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(*pick(), 230))
    else:  # grid
        cols, rows = rng.randint(3, 6), rng.randint(2, 5)
        cw, rh = w / cols, h / rows
        for i in range(cols):
            for j in range(rows):
                if rng.random() < 0.55:
                    m = rng.uniform(0.08, 0.25)
                    box = (i * cw + m * cw, j * rh + m * rh, (i + 1) * cw - m * cw, (j + 1) * rh - m * rh)
                    if rng.random() < 0.5:
                        d.rectangle(box, fill=(*pick(), rng.randint(120, 210)))
                    else:
                        d.ellipse(box, fill=(*pick(), rng.randint(120, 210)))
    img.paste(Image.alpha_composite(img.convert("RGBA"), overlay).convert("RGB"))


# ## Text


SAFE_INSET = 0.1  # share of the frame a Ken Burns zoom/pan (up to ~1.2x) may crop at each edge
PANEL_TOP = 0.2  # the prompt panel spans 20%..65% at most: clear of captions in the bottom third


def layout_text(prompt: str, width: int, height: int) -> TextLayout:
    """Wrap the prompt into a panel in the upper part, shrinking the font until it fits.

    Upper, and inset by SAFE_INSET: in a render, captions sit across the bottom third and a
    Ken Burns zoom crops the edges, so text there would be covered or cut off.
    """
    short = min(width, height)
    margin = round(width * SAFE_INSET)
    panel_w = width - 2 * margin
    max_panel_h = round(height * 0.45)
    words = _font(largest_size(width, height), bold=True).visible(" ".join(prompt.split())[:4000]).split(" ")
    largest, smallest = largest_size(width, height), max(14, round(short / 40))

    def fitting(size: int) -> list[str] | None:
        lines = _wrap(words, _font(size, bold=True), panel_w - 2 * size)
        return lines if len(lines) * _line_height(size) + 2 * size <= max_panel_h else None

    lo, hi, best = smallest, largest, None  # binary search for the largest size that fits
    while lo <= hi:
        mid = (lo + hi) // 2
        lines = fitting(mid)
        if lines is not None:
            best, lo = (mid, lines), mid + 1
        else:
            hi = mid - 1
    if best is not None:
        return _panel(best[1], best[0], width, height, margin, truncated=False)
    size = smallest
    max_lines = max(1, (max_panel_h - 2 * size) // _line_height(size))
    font = _font(size, bold=True)
    lines = _wrap(words, font, panel_w - 2 * size)
    kept = lines[:max_lines]
    last = kept[-1]
    while last and font.getlength(last + "…") > panel_w - 2 * size:
        last = last[:-1]
    kept[-1] = last.rstrip() + "…"
    return _panel(kept, size, width, height, margin, truncated=True)


def largest_size(width: int, height: int) -> int:
    return max(18, round(min(width, height) / 16))


def _panel(lines: list[str], size: int, width: int, height: int, margin: int, truncated: bool) -> TextLayout:
    panel_h = len(lines) * _line_height(size) + 2 * size
    top = round(height * PANEL_TOP)
    return TextLayout(lines, size, (margin, top, width - margin, top + panel_h), truncated)


def _wrap(words: list[str], font: "FontSet", max_w: float) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in words:
        candidate = f"{current} {word}".strip()
        if font.getlength(candidate) <= max_w:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = word
        # one very long word (or a CJK sentence, which has no spaces): hard-break it
        while (cut := font.fit(current, max_w)) < len(current):
            lines.append(current[:cut])
            current = current[cut:]
    if current:
        lines.append(current)
    return lines


def _line_height(size: int) -> int:
    return round(size * 1.3)


def _badge(draw: ImageDraw.ImageDraw, width: int, height: int, text: str) -> None:
    size = max(12, round(min(width, height) / 36))
    font = _font(size, bold=True)
    # One line: a line break (\n, \r, \x1c-\x1e, \x85, \u2029) from style.art_style makes raqm's
    # layout fail, and a tab draws as nothing useful; collapse whitespace as the prompt's is.
    text = font.visible(" ".join(text.split()))
    m = round(min(width, height) * SAFE_INSET)
    room = width - 2 * m - size  # the badge stays inside the frame, portrait ones too
    while font.getlength(text) > room and len(text) > 1:
        text = text[:-2].rstrip() + "…"
    tw = font.getlength(text)
    draw.rounded_rectangle((m, m, m + tw + size, m + round(size * 1.7)), radius=size // 2, fill=(0, 0, 0))
    font.draw(draw, (m + size // 2, m + round(size * 0.3)), text, (255, 214, 10))


# ## Fonts


def cjk_font_path() -> Path | None:
    """The first installed CJK font, or None (then CJK text is shown as MISSING_MARK)."""
    return next((p for p in CJK_FONTS if p.is_file()), None)


@dataclass(frozen=True)
class FontSet:
    """Fonts in order of preference; each character is drawn by the first that has its glyph.

    Coverage is decided per character (a glyph differs from the font's .notdef), so a
    mixed prompt takes its Latin from DejaVu and its CJK from the CJK font, baselines
    aligned. `visible()` must be applied first: it replaces what no font covers."""

    sources: tuple[str, ...]  # font file paths, or DEFAULT_FONT
    size: int

    @property
    def faces(self) -> tuple[ImageFont.FreeTypeFont, ...]:
        # The fallbacks (CJK) need no shaping, and raqm costs ~160 us a call on the 5 MB
        # WQY face; the first font keeps it (Arabic, Indic scripts in DejaVu are shaped).
        return tuple(_face(src, self.size, shaped=i == 0) for i, src in enumerate(self.sources))

    def face_index(self, ch: str) -> int | None:
        """Which font draws `ch`: whitespace always the first; None when no font has it."""
        if ch.isspace():
            return 0
        return next((i for i, src in enumerate(self.sources) if covers(src, ch)), None)

    def visible(self, text: str) -> str:
        """`text` with each run of characters no font can draw (spaces between them included)
        replaced by one MISSING_MARK."""
        out: list[str] = []
        dropped = False
        for ch in text:
            if self.face_index(ch) is not None:
                out.append(ch)
                continue
            dropped = True
            while out and out[-1].isspace() and len(out) > 1 and out[-2] == MISSING_MARK:
                out.pop()  # "[…] […]" -> "[…]"
            if not (out and out[-1] == MISSING_MARK):
                out.append(MISSING_MARK)
        if dropped:
            _warn_missing(self.sources)
        return "".join(out)

    def runs(self, text: str) -> list[tuple[str, ImageFont.FreeTypeFont]]:
        """`text` split into (segment, font) runs; characters no font has go to the first."""
        faces = self.faces
        runs: list[tuple[str, ImageFont.FreeTypeFont]] = []
        current, current_i = "", 0
        for ch in text:
            i = self.face_index(ch)
            i = current_i if i is None or (ch.isspace() and current) else i
            if current and i != current_i:
                runs.append((current, faces[current_i]))
                current = ""
            current, current_i = current + ch, i
        if current:
            runs.append((current, faces[current_i]))
        return runs

    def getlength(self, text: str) -> float:
        if len(self.sources) == 1 or all(covers(self.sources[0], ch) for ch in set(text)):
            return self.faces[0].getlength(text)  # one font (Latin): no runs
        return sum(face.getlength(seg) for seg, face in self.runs(text))

    def fit(self, text: str, max_w: float) -> int:
        """The length of the longest prefix of `text` at most `max_w` wide (at least 1).
        Linear in the prefix: per-character advances, then settled with exact measures."""
        n, width = 0, 0.0
        for ch in text:
            width += _advance(self, ch)
            if width > max_w:
                break
            n += 1
        while n > 1 and self.getlength(text[:n]) > max_w:  # kerning and shaping: the sum is close, not exact
            n -= 1
        while n < len(text) and self.getlength(text[:n + 1]) <= max_w:
            n += 1
        return max(1, n)

    def draw(self, draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, fill: tuple[int, int, int]) -> None:
        """Draw `text` with its top at y (the first font's ascender), every run on one baseline."""
        x, y = xy
        baseline = y + self.faces[0].getmetrics()[0]
        for seg, face in self.runs(text):
            draw.text((x, baseline), seg, font=face, fill=fill, anchor="ls")
            x += face.getlength(seg)


@cache
def _font(size: int, bold: bool = False) -> FontSet:
    path = FONT_DIR / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
    sources = [str(path) if path.exists() else DEFAULT_FONT]
    cjk = cjk_font_path()
    if cjk is not None:
        sources.append(str(cjk))
    return FontSet(tuple(sources), size)


@lru_cache(maxsize=65536)
def _advance(fonts: FontSet, ch: str) -> float:
    return fonts.getlength(ch)


@cache
def _face(source: str, size: int, shaped: bool = True) -> ImageFont.FreeTypeFont:
    if source == DEFAULT_FONT:
        return ImageFont.load_default(size)  # type: ignore[return-value]
    return ImageFont.truetype(source, size, layout_engine=None if shaped else ImageFont.Layout.BASIC)


@cache
def _probe_face(source: str) -> ImageFont.FreeTypeFont:
    """`source` small and without shaping (raqm): only glyph lookup matters, and it is fast."""
    if source == DEFAULT_FONT:
        return ImageFont.load_default(_PROBE_SIZE)  # type: ignore[return-value]
    return ImageFont.truetype(source, _PROBE_SIZE, layout_engine=ImageFont.Layout.BASIC)


def _glyph(source: str, ch: str) -> tuple:
    face = _probe_face(source)
    mask = face.getmask(ch, mode="L")
    return face.getlength(ch), mask.size, bytes(mask)


@cache
def _notdef(source: str) -> tuple:
    return _glyph(source, _NOTDEF_PROBE)


@lru_cache(maxsize=65536)
def covers(source: str, ch: str) -> bool:
    """Whether the font at `source` has a glyph for `ch` (it does not draw its .notdef)."""
    return _glyph(source, ch) != _notdef(source)


@cache
def _warn_missing(sources: tuple[str, ...]) -> None:
    """Once per font set: the dev sees why the placeholder says […]."""
    hint = "" if len(sources) > 1 else f" (no CJK font: install {CJK_PACKAGE})"
    log.warning(f"placeholder text has characters no installed font can draw; shown as {MISSING_MARK}{hint}",
                extra={"fonts": list(sources)})
