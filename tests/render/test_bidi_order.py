"""Caption pages that mix directions (bidi-order.ts): words of the other direction keep their own
order inside the page's, as the Unicode bidirectional algorithm orders them in running text."""

from __future__ import annotations

import json
import subprocess

from modal_functions.render.project import PROJECT_DIR, node

# (page words in spoken order, the order the page's flex row must hold them). An RTL row lays its
# first item on the right: "שלום New York 2024 עולם" is read right to left with "New York 2024"
# left to right inside it, so the row holds שלום, 2024, York, New, עולם.
CASES = [
    (["שלום", "New", "York", "2024", "עולם"], "rtl", ["שלום", "2024", "York", "New", "עולם"]),
    (["I", "said", "שלום", "עולם", "today"], "ltr", ["I", "said", "עולם", "שלום", "today"]),
    (["قال", "你好", "اليوم"], "rtl", ["قال", "你好", "اليوم"]),  # one group of the other direction: as it is
    (["The", "moon", "pulls", "the", "sea."], "ltr", ["The", "moon", "pulls", "the", "sea."]),
    (["القمر", "يجذب", "الماء."], "rtl", ["القمر", "يجذب", "الماء."]),
    (["He", "read", "פרק", "3", "today"], "ltr", ["He", "read", "3", "פרק", "today"]),  # a number after Hebrew is Hebrew's
    (["Page", "3", "of", "5"], "ltr", ["Page", "3", "of", "5"]),
    (["עמוד", "3", "מתוך", "5"], "rtl", ["עמוד", "3", "מתוך", "5"]),
]


def test_mixed_direction_pages_keep_each_direction_s_order(tmp_path):
    module = tmp_path / "bidi-order.mts"
    module.write_text((PROJECT_DIR / "src/Explainer/bidi-order.ts").read_text())
    pages = [words for words, _, _ in CASES]
    script = (f"import {{ pageDir, visualOrder }} from {json.dumps(module.as_uri())};\n"
              f"console.log(JSON.stringify({json.dumps(pages)}.map((w) => [pageDir(w), visualOrder(w, (x) => x, pageDir(w))])));")
    out = subprocess.run([node(), "--input-type=module", "-e", script], capture_output=True, text=True, check=True, timeout=60)
    got = json.loads(out.stdout)
    assert got == [[d, order] for _, d, order in CASES]
