/**
 * The worker counts a script's words as the aligner does (`script_words`, run here in the repo's
 * Python, not a copy of it), character by character where the two languages' Unicode rules differ:
 * every code point that is whitespace to either language (JavaScript's \s, Python's str.isspace(),
 * Unicode's White_Space) or draws as nothing (controls, format characters), in words of a spaced and
 * of an unspaced script. The rule both follow is JavaScript's \s (script_align.py `_SPACES`): NEL and
 * U+001C..U+001F, which Python's str.split() would cut at, are no space; U+FEFF is.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { PYTHON, REPO } from "../../test/support/computeServer.ts";
import { scriptWords } from "./scriptWords.ts";

const COUNT = `
import json, sys
from modal_functions.align.script_align import script_words
print(json.dumps([len(script_words(s)) for s in json.load(sys.stdin)]))
`;

/** How many words the aligner makes of each script. */
function alignerCounts(scripts: string[]): number[] {
  const out = execFileSync(PYTHON, ["-c", COUNT], { cwd: REPO, input: JSON.stringify(scripts), encoding: "utf8", maxBuffer: 1 << 26 });
  return JSON.parse(out) as number[];
}

// Python's str.isspace() beyond Unicode's White_Space: the information separators.
const PYTHON_SPACE = /[\p{White_Space}\x1c-\x1f]/u;
const WHITESPACE_ISH = /[\s\p{White_Space}\p{Z}\p{Cc}\p{Cf}\x1c-\x1f]/u;

function whitespaceIsh(): string[] {
  const out: string[] = [];
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue; // a lone surrogate is no character of a script
    const ch = String.fromCodePoint(cp);
    if (WHITESPACE_ISH.test(ch) || PYTHON_SPACE.test(ch)) out.push(ch);
  }
  return out;
}

test("the worker and the aligner cut at the same whitespace, for every whitespace-ish code point", () => {
  const chars = whitespaceIsh();
  assert.ok(chars.includes("\x85") && chars.includes("\x1c") && chars.includes("\ufeff") && chars.includes("\u180e"));
  const scripts = chars.flatMap((c) => [`a${c}b`, `a ${c} b`, `${c}a`, `a${c}`, `日${c}本`, `สวัสดี${c}ครับ`, `${c}`]);
  const py = alignerCounts(scripts);
  const ts = scripts.map((s) => scriptWords(s).length);
  const differ = scripts
    .map((s, k) => ({ s, ts: ts[k], py: py[k] }))
    .filter((d) => d.ts !== d.py)
    .map((d) => ({ ...d, s: [...d.s].map((c) => "U+" + c.codePointAt(0)!.toString(16).padStart(4, "0")).join(" ") }));
  assert.deepEqual(differ, []);
  // The shared rule: a space is what JavaScript's \s matches, whatever Python's str.split() does.
  for (const c of chars) assert.equal(scriptWords(`a${c}b`).length, /\s/.test(c) ? 2 : 1, `U+${c.codePointAt(0)!.toString(16)}`);
});

test("a modifier-letter apostrophe on its own is no word, as the aligner folds it to an apostrophe", () => {
  // U+02BC is a letter to Unicode (Lm) but the aligner reads it as "'" (wordkeys._FOLD): "rock ʼ roll"
  // is two words there; counted as three here, every scene after it started a word late.
  const scripts = ["rock \u02bc roll", "\u02bc", "\u02bc\u02bc hello", "日\u02bc本", "hello \u02bcworld\u02bc", "l\u02bceau"];
  assert.deepEqual(scripts.map((s) => scriptWords(s).length), alignerCounts(scripts));
  assert.deepEqual(scriptWords("rock \u02bc roll"), ["rock \u02bc", "roll"]);
});
