"""Caption pages (the composition's `endsSentence`) and SRT cues (`ends_sentence`) end a
sentence on the same words: one rule, written in TypeScript and in Python."""

from __future__ import annotations

import json
import subprocess

from modal_functions.align.captions import ends_sentence
from modal_functions.render.project import PROJECT_DIR, node

ENDS = ["tide.", "“Yes.”", "'quoted.'", "(really?)", "[done!]", "Done. 🎉", "ok.👍🏽", "wow!", "why?",
        "这是月亮。", "本当？", "すごい！", "「はい。」", "है ।", "क्या?", "لماذا؟", "۔ختم۔", "Այո։", "ነው።", "what‼",
        ("U.S.A.", "Then"), ("Wait...", "Then"), ("etc.", "The"), ("9 a.m.", None), ("why?", "and"), ("tide.", "3")]
NOT_ENDS = ["word", "here —", "go 🚀", "3.5", "end…", "moon,", "up;", "“Yes”", "月亮，", "、", "नमस्ते", "",
            ("Mr.", "Smith"), ("Dr.", "Jones"), ("(e.g.", "after"), ("i.e.", None), ("Prof.", "Lee."), ("Mrs.", "Brown"),
            ("U.S.A.", "is"), ("St.", "on"), ("Wait...", "and"), ("tide.", "»then")]
CASES = [[c, None] if isinstance(c, str) else list(c) for c in ENDS + NOT_ENDS]


def test_typescript_and_python_agree_on_sentence_ends(tmp_path):
    # the same source as .mts: Node strips its types and loads it as an ES module
    module = tmp_path / "ends-sentence.mts"
    module.write_text((PROJECT_DIR / "src/Explainer/ends-sentence.ts").read_text())
    script = f"import {{ endsSentence }} from {json.dumps(module.as_uri())};\n" \
             f"console.log(JSON.stringify({json.dumps(CASES)}.map(([t, f]) => endsSentence(t, f ?? undefined))));"
    out = subprocess.run([node(), "--input-type=module", "-e", script], capture_output=True, text=True, check=True, timeout=60)
    ts = json.loads(out.stdout)
    py = [ends_sentence(t, f) for t, f in CASES]
    assert ts == py
    assert py == [True] * len(ENDS) + [False] * len(NOT_ENDS), [c for c, e in zip(CASES, py)]
