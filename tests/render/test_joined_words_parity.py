"""The composition joins the same captions on screen as the SRT cues do: `joinedStarts`
(joined-words.ts) against `wordkeys.spaces` on the captions' leading spaces, one rule in
TypeScript and in Python."""

from __future__ import annotations

import json
import subprocess

from modal_functions.align.wordkeys import spaces
from modal_functions.render.project import PROJECT_DIR, node

TEXTS = ["The", " moon", " 月", "球", "的。", "AI", "は", "便利", "Tokyo", "tower", " ok", "「は", "い。」", "ジャー",
         "(333m)", "で", "す", "3", "月", "— 🚀", "다", "음", "Луна", "вода",
         " วัน", "นี้", "เรา!", "AI", " ថ្ងៃនេះ", "យើង", " ມື້ນີ້", "ພວກ", " ဒီ", "နေ့"]


def test_typescript_and_python_join_the_same_captions(tmp_path):
    module = tmp_path / "joined-words.mts"
    module.write_text((PROJECT_DIR / "src/Explainer/joined-words.ts").read_text())
    captions = [{"text": t, "startMs": 100 * i} for i, t in enumerate(TEXTS)]
    script = (f"import {{ joinedStarts }} from {json.dumps(module.as_uri())};\n"
              f"console.log(JSON.stringify([...joinedStarts({json.dumps(captions)})]));")
    out = subprocess.run([node(), "--input-type=module", "-e", script], capture_output=True, text=True, check=True, timeout=60)
    ts = sorted(json.loads(out.stdout))
    py = [100 * i for i, space in enumerate(spaces(TEXTS, [t.startswith(" ") for t in TEXTS])) if i and not space]
    assert ts == py
    joined = {TEXTS[ms // 100] for ms in py}
    assert {"球", "的。", "は", "便利", "Tokyo", "い。」", "(333m)", "で", "す", "3", "月", "นี้", "เรา!", "យើង", "ພວກ", "နေ့"} <= joined
    assert not joined & {"tower", "Луна", "вода", "음", "— 🚀"}
