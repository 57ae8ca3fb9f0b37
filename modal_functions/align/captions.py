"""Caption files from word timings: SRT and WebVTT cues of a few words each.

Words are grouped into cues of at most `max_words` words / `max_chars` characters,
breaking early at sentence ends and at pauses, which is how subtitles read best.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from ..contract.align import Caption


@dataclass
class Cue:
    start: float  # seconds
    end: float
    text: str


def cues(words: list[Caption], max_words: int = 7, max_chars: int = 42, pause_s: float = 0.6) -> list[Cue]:
    out: list[Cue] = []
    group: list[Caption] = []

    def flush():
        if group:
            out.append(Cue(group[0].startMs / 1000, group[-1].endMs / 1000, " ".join(w.text.strip() for w in group)))
            group.clear()

    for w in words:
        if group:
            too_long = len(group) >= max_words or len(" ".join(g.text for g in group)) + 1 + len(w.text) > max_chars
            paused = (w.startMs - group[-1].endMs) / 1000 >= pause_s
            if too_long or paused:
                flush()
        group.append(w)
        if ends_sentence(w.text):
            flush()
    flush()
    return out


_TRAILING = {"Pe", "Pf", "So", "Sk", "Sm", "Sc", "Mn", "Me", "Cf"}  # closers, emoji and their modifiers/joiners


def ends_sentence(text: str) -> bool:
    """Ends in . ! or ?, looking past closing quotes and brackets and attached symbols ("Done. 🎉", "“Yes.”")."""
    core = text.rstrip()
    while core and (core[-1] in "\"'" or unicodedata.category(core[-1]) in _TRAILING):
        core = core[:-1].rstrip()
    return core.endswith((".", "!", "?"))


def _stamp(seconds: float, sep: str) -> str:
    ms = max(0, int(round(seconds * 1000)))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_srt(items: list[Cue]) -> str:
    blocks = [f"{i}\n{_stamp(c.start, ',')} --> {_stamp(c.end, ',')}\n{c.text.replace('-->', '->')}\n" for i, c in enumerate(items, 1)]
    return "\n".join(blocks)


def _vtt_text(text: str) -> str:
    """WebVTT cue payload: & and < are markup, and "-->" may not appear at all."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(items: list[Cue]) -> str:
    blocks = [f"{_stamp(c.start, '.')} --> {_stamp(c.end, '.')}\n{_vtt_text(c.text)}\n" for c in items]
    return "WEBVTT\n\n" + "\n".join(blocks)
