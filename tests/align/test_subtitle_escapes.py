"""Script text in the SRT/WebVTT files reads as written when a real parser (ffmpeg) reads them back:
a "<i>" or "<div>" in a coding narration is not taken as markup (SubRip players honour <b>, <i>, <u>,
<font>, and ffmpeg drops any other "<...>" and every "{\\...}" override tag), and no arrow in the text ("--->") makes a line read as a
cue timing line, which loses the cue."""

import subprocess

import pytest

from modal_functions.align.captions import Cue, to_srt, to_vtt

TEXTS = [
    "Wrap it in an <i> tag, not a <div>.",
    "Use <b>bold</b> or <font color=red>red</font> text.",
    "If a < b > c, then",
    "00:00:05,000 ---> 00:00:06,000 was the stamp",
    "00:00:05.000 --> 00:00:06.000 and a--->b",
    "R&D <3 &amp; AT&T",
    r"Type {\i1} for italics, {\an8} to move it",
]
INVISIBLE = "\u2060\u200b"  # what a renderer draws as nothing


def _read_back(tmp_path, name: str, text: str) -> list[tuple[str, str, str]]:
    """(start, end, text) of each event ffmpeg reads from the file, as ASS dialogue (override tags kept,
    escaped braces read as the braces they stand for)."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    ass = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "ass", "-"], capture_output=True,
                         check=True).stdout.decode()
    events = []
    for line in ass.splitlines():
        if line.startswith("Dialogue:"):
            fields = line.split(",", 9)
            events.append((fields[1], fields[2], fields[9].strip().replace("\\{", "{").replace("\\}", "}")))
    return events


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_script_text_reads_back_as_written(tmp_path, fmt):
    items = [Cue(k * 2.0, k * 2.0 + 1.5, text) for k, text in enumerate(TEXTS)]
    written = to_srt(items) if fmt == "srt" else to_vtt(items)
    events = _read_back(tmp_path, f"captions.{fmt}", written)
    assert len(events) == len(items), f"{fmt}: {len(items)} cues written, {len(events)} read back:\n{written}"
    for cue, (start, end, shown) in zip(items, events):
        assert (start, end) == (f"0:00:{cue.start:05.2f}", f"0:00:{cue.end:05.2f}")
        assert shown.translate({ord(c): None for c in INVISIBLE}) == cue.text, fmt
