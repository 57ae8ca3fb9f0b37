"""The worker counts script words exactly as the aligner does (`scriptWords.ts` against
`script_words`): with script alignment word k of the script is caption k, which is how the
worker finds each scene's first word. Every script the product takes, not only English."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from modal_functions.align.script_align import script_words, visible
from modal_functions.render.project import node

MODULE = Path(__file__).resolve().parents[2] / "apps/worker/src/pipeline/scriptWords.ts"

SCRIPTS = [
    "The moon pulls — the water.",
    "— Hello, world 👋 & more",
    "🚀 — &",
    "",
    "Tides rise twice a day, at 6:30 and 18:45 (roughly).",
    "Луна притягивает воду. Приливы!",
    "Η Σελήνη έλκει το νερό.",
    "चंद्रमा पानी को खींचता है।",
    "القمر يجذب الماء؟",
    "潮汐是由月球引起的。每天两次！",
    "東京タワー(333m)はジャーナリストに人気です。「はい。」",
    "AIは便利。 The word 月亮, ok",
    "café naïve coöperate l'eau ' '' ",
    "ｶﾀｶﾅ ｰ ๆ 々",
    "สวัสดีครับ วันนี้เราจะเรียนรู้เรื่องปัญญาประดิษฐ์ (AI) กัน!",
    "AIคือ\"อนาคต\"ของเรา เด็กๆ ชอบมาก",
    "ថ្ងៃនេះយើងនឹងរៀនអំពីបញ្ញាសិប្បនិម្មិត។",
    "ມື້ນີ້ພວກເຮົາຈະຮຽນ",
    "ဒီနေ့ ကျွန်တော်တို့ သင်ယူမယ်။",
    "東京タワーไทย 2026年",
    # Invisible characters and the whitespace the two languages disagree on (JavaScript's \s has U+FEFF,
    # Python's str.split() U+001C..U+001F and U+0085).
    "\ufeffThe moon\u200b pulls \u200b the wa\u00adter\u2060. \ufeff",
    "hello\ufeffworld a\x85b c\x1cd e\x1ff",
    "สวัสดี\u200bครับ \u200b日本\u2060語",
]


def _visible(words: list[str]) -> list[str]:
    return [visible(w) for w in words]


def test_the_worker_and_the_aligner_cut_every_script_into_the_same_words(tmp_path):
    module = tmp_path / "scriptWords.mts"  # Node strips the types of an .mts and loads it as an ES module
    module.write_text(MODULE.read_text())
    script = (f"import {{ scriptWords }} from {json.dumps(module.as_uri())};\n"
              f"console.log(JSON.stringify({json.dumps(SCRIPTS)}.map(scriptWords)));")
    out = subprocess.run([node(), "--input-type=module", "-e", script], capture_output=True, text=True, check=True, timeout=60)
    ts = json.loads(out.stdout)
    py = [script_words(s) for s in SCRIPTS]
    assert dict(zip(SCRIPTS, map(len, ts))) == dict(zip(SCRIPTS, map(len, py)))
    # The same words too, but the aligner's without the characters that draw as nothing (`visible`).
    assert dict(zip(SCRIPTS, map(_visible, ts))) == dict(zip(SCRIPTS, py))
    assert py[SCRIPTS.index("潮汐是由月球引起的。每天两次！")] == ["潮", "汐", "是", "由", "月", "球", "引", "起", "的。", "每", "天", "两", "次！"]
    assert len(py[SCRIPTS.index("Луна притягивает воду. Приливы!")]) == 4
    assert py[SCRIPTS.index("ມື້ນີ້ພວກເຮົາຈະຮຽນ")] == ["ມື້ນີ້", "ພວກ", "ເຮົາ", "ຈະ", "ຮຽນ"]  # dictionary words, not characters
