/**
 * Script words counted exactly as the aligner counts them (modal_functions/align/script_align.py
 * `script_words`; tests/align/test_script_words_parity.py keeps the two equal), so that with
 * script alignment word k of the script is caption k:
 *
 * - whitespace tokens with a letter or digit of any script are words; a token without one
 *   (an emoji, "—") rides with the word before it and is not counted;
 * - in scripts written without spaces (Han, kana) each character is a word, a small kana or
 *   the long-vowel mark staying with the one before; a run of other letters and digits inside
 *   such a token is one word ("AIは便利。" -> "AI", "は", "便", "利。");
 * - in Thai, Lao, Burmese and Khmer each dictionary word is a word, as ICU's word breaker finds
 *   them (`Intl.Segmenter` here, the same ICU through icu4py in the aligner).
 *
 * No imports: the parity test loads this file on its own.
 */

const CHARACTER_WORDS: Array<[number, number]> = [
  [0x3005, 0x3005], [0x3040, 0x30ff], [0x31f0, 0x31ff], [0x3400, 0x4dbf], [0x4e00, 0x9fff],
  [0xf900, 0xfaff], [0xff66, 0xff9f], [0x20000, 0x3134f],
];
const DICTIONARY_WORDS: Array<[number, number]> = [
  [0x0e00, 0x0eff], [0x1000, 0x109f], [0x1780, 0x17ff], [0x19e0, 0x19ff], [0xa9e0, 0xa9ff], [0xaa60, 0xaa7f],
];
const ATTACHED = new Set("ーｰぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮｧｨｩｪｫｯｬｭｮ");
const LETTER = /[\p{L}\p{N}]/u;
const OPENING = /[\p{Ps}\p{Pi}]/u;
const WORD_BREAKS = new Intl.Segmenter("und", { granularity: "word" });

function within(ch: string, ranges: Array<[number, number]>): boolean {
  const o = ch.codePointAt(0)!;
  return LETTER.test(ch) && ranges.some(([lo, hi]) => lo <= o && o <= hi);
}

/** A Chinese or Japanese letter (Han, kana): each is a word of its own. */
export function characterWord(ch: string): boolean {
  return within(ch, CHARACTER_WORDS);
}

/** A letter of Thai, Lao, Burmese or Khmer: its words are found by ICU's dictionaries. */
export function dictionaryWord(ch: string): boolean {
  return within(ch, DICTIONARY_WORDS);
}

/** A letter or digit of a script written without spaces between words. */
export function unspaced(ch: string): boolean {
  return characterWord(ch) || dictionaryWord(ch);
}

/** The token has a letter or digit of any script (accents and other marks alone do not count). The
 * modifier-letter apostrophe is a letter to Unicode but an apostrophe to the aligner (wordkeys `_FOLD`),
 * so "rock ʼ roll" is two words there and must be here. */
export function hasWord(token: string): boolean {
  return /[\p{L}\p{N}\p{Mc}]/u.test(token.replace(/\u02bc/g, "'").normalize("NFKD"));
}

/** What `pieces` walks: the token's characters, or, where it has letters of Thai, Lao, Burmese or Khmer,
 * ICU's word segments, the segments of Chinese or Japanese in it still one character each. */
function units(token: string): string[] {
  const chars = [...token];
  if (!chars.some(dictionaryWord)) return chars;
  return [...WORD_BREAKS.segment(token)].flatMap(({ segment }) => {
    const cs = [...segment];
    return cs.some(characterWord) ? cs : [segment];
  });
}

/** One whitespace-free token as caption words (see above); punctuation stays with the word before it,
 * opening brackets and quotes with the one after. */
export function pieces(token: string): string[] {
  if (![...token].some(unspaced)) return [token];
  const out: string[] = [];
  let pending = "";
  let inRun = false;
  for (const unit of units(token)) {
    if (characterWord([...unit][0]!)) {
      if (ATTACHED.has(unit) && out.length && !pending) out[out.length - 1] += unit;
      else out.push(pending + unit);
      pending = "";
      inRun = false;
    } else if ([...unit].some(dictionaryWord)) {
      out.push(pending + unit);
      pending = "";
      inRun = false;
    } else if (hasWord(unit)) {
      if (inRun && !pending) out[out.length - 1] += unit;
      else {
        out.push(pending + unit);
        pending = "";
      }
      inRun = true;
    } else if (out.length && !pending && !OPENING.test([...unit][0]!)) {
      out[out.length - 1] += unit;
    } else {
      pending += unit;
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
