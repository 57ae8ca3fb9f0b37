/**
 * Script words counted exactly as the aligner counts them (modal_functions/align/script_align.py
 * `script_words`; tests/align/test_script_words_parity.py keeps the two equal), so that with
 * script alignment word k of the script is caption k:
 *
 * - whitespace tokens with a letter or digit of any script are words; a token without one
 *   (an emoji, "—") rides with the word before it and is not counted;
 * - in scripts written without spaces (Han, kana) each character is a word, a small kana or
 *   the long-vowel mark staying with the one before; a run of other letters and digits inside
 *   such a token is one word ("AIは便利。" -> "AI", "は", "便", "利。").
 *
 * No imports: the parity test loads this file on its own.
 */

const UNSPACED: Array<[number, number]> = [
  [0x3005, 0x3005], [0x3040, 0x30ff], [0x31f0, 0x31ff], [0x3400, 0x4dbf], [0x4e00, 0x9fff],
  [0xf900, 0xfaff], [0xff66, 0xff9f], [0x20000, 0x3134f],
];
const ATTACHED = new Set("ーｰぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮｧｨｩｪｫｯｬｭｮ");
const LETTER = /[\p{L}\p{N}]/u;
const OPENING = /[\p{Ps}\p{Pi}]/u;

/** A letter or digit of a script written without spaces between words (Chinese, Japanese). */
export function unspaced(ch: string): boolean {
  const o = ch.codePointAt(0)!;
  return LETTER.test(ch) && UNSPACED.some(([lo, hi]) => lo <= o && o <= hi);
}

/** The token has a letter or digit of any script (accents and other marks alone do not count). */
export function hasWord(token: string): boolean {
  return /[\p{L}\p{N}\p{Mc}]/u.test(token.normalize("NFKD"));
}

/** One whitespace-free token as caption words (see above); punctuation stays with the word before it,
 * opening brackets and quotes with the one after. */
export function pieces(token: string): string[] {
  const chars = [...token];
  if (!chars.some(unspaced)) return [token];
  const out: string[] = [];
  let pending = "";
  let inRun = false;
  for (const ch of chars) {
    if (unspaced(ch)) {
      if (ATTACHED.has(ch) && out.length && !pending) out[out.length - 1] += ch;
      else out.push(pending + ch);
      pending = "";
      inRun = false;
    } else if (hasWord(ch)) {
      if (inRun && !pending) out[out.length - 1] += ch;
      else {
        out.push(pending + ch);
        pending = "";
      }
      inRun = true;
    } else if (out.length && !pending && !OPENING.test(ch)) {
      out[out.length - 1] += ch;
    } else {
      pending += ch;
    }
  }
  if (pending) {
    if (out.length) out[out.length - 1] += pending;
    else out.push(pending);
  }
  return out;
}

/** The script's caption words (the text of each is not needed for counting, but kept for tests). */
export function scriptWords(text: string): string[] {
  const words: string[] = [];
  let leading: string[] = [];
  for (const token of text.split(/\s+/)) {
    if (!token) continue;
    if (hasWord(token)) {
      const [first, ...rest] = pieces(token);
      words.push([...leading, first!].join(" "), ...rest);
      leading = [];
    } else if (words.length) {
      words[words.length - 1] += " " + token;
    } else {
      leading.push(token);
    }
  }
  return words;
}
