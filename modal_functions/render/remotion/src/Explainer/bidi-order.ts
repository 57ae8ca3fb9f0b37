/**
 * The order a caption page's words go into its flex row, so that a page mixing directions reads
 * right: "שלום New York 2024 עולם" shows "New York 2024" left to right inside the Hebrew line.
 *
 * A flex row lays its items out in the container's direction only; the Unicode bidirectional
 * algorithm never sees the words as one text. So the algorithm's reordering (UAX #9, rule L2) is
 * done here, a word at a time: each word takes the direction of its first strong letter, numbers
 * and neutral words are resolved as the algorithm resolves them (W7, N1, I1/I2), and runs above
 * the page's level are reversed, highest first. The row's own `dir` does the last reversal of an
 * RTL page. A page with words of one direction only comes back as it was.
 */

export type Dir = "ltr" | "rtl";
type Kind = "L" | "R" | "EN" | "N";

// Hebrew, Arabic, Syriac, Thaana, NKo, Samaritan, Mandaic, Arabic supplements and presentation
// forms, and the RTL blocks of the supplementary planes.
const RTL = /[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc\u{10800}-\u{10fff}\u{1e800}-\u{1efff}]/u;
const LETTER = /\p{L}/u;
const DIGIT = /\p{Nd}/u;

/** The kind of a word: the direction of its first strong letter, else a number, else neutral. */
function kind(text: string): Kind {
  for (const ch of text) {
    if (RTL.test(ch)) return "R";
    if (LETTER.test(ch)) return "L";
  }
  return DIGIT.test(text) ? "EN" : "N";
}

/** The direction of the text's first strong letter (what `dir="auto"` picks), or null. */
export function strongDir(text: string): Dir | null {
  const k = kind(text);
  return k === "R" ? "rtl" : k === "L" ? "ltr" : null;
}

/** The page's direction: its first word with a strong letter decides; left to right without one. */
export function pageDir(texts: string[]): Dir {
  for (const t of texts) {
    const d = strongDir(t);
    if (d) return d;
  }
  return "ltr";
}

/** The items in the order the page's flex row (with `dir` = `base`) must hold them. */
export function visualOrder<T>(items: T[], textOf: (item: T) => string, base: Dir): T[] {
  const kinds = items.map((item) => kind(textOf(item)));
  // W7: a number after a left-to-right letter (or at the start of a left-to-right page) is left to right
  let strong: Kind = base === "rtl" ? "R" : "L";
  const resolved = kinds.map((k) => {
    if (k === "L" || k === "R") strong = k;
    return k === "EN" && strong === "L" ? "L" : k;
  });
  // N1/N2: a neutral word between two of one direction takes it (numbers count as R), else the page's
  const side = (k: Kind): Kind | null => (k === "EN" ? "R" : k === "N" ? null : k);
  const sos: Kind = base === "rtl" ? "R" : "L";
  const final = resolved.map((k, i) => {
    if (k !== "N") return k;
    let before: Kind | null = null;
    for (let j = i - 1; j >= 0 && before === null; j--) before = side(resolved[j]!);
    let after: Kind | null = null;
    for (let j = i + 1; j < resolved.length && after === null; j++) after = side(resolved[j]!);
    const b = before ?? sos;
    const a = after ?? sos;
    return a === b ? a : sos;
  });
  // I1/I2: levels on the page's level (0 or 1)
  const baseLevel = base === "rtl" ? 1 : 0;
  const levels = final.map((k) =>
    baseLevel === 0 ? (k === "R" ? 1 : k === "EN" ? 2 : 0) : k === "R" ? 1 : 2,
  );
  // L2: reverse runs at each level from the highest down to the lowest odd one; on an RTL page the
  // last of these (the whole row) is the row's `dir`
  const order = items.map((_, i) => i);
  const top = Math.max(baseLevel, ...levels);
  for (let level = top; level > baseLevel; level--) {
    for (let i = 0; i < order.length; ) {
      if (levels[order[i]!]! < level) {
        i++;
        continue;
      }
      let j = i;
      while (j < order.length && levels[order[j]!]! >= level) j++;
      order.splice(i, j - i, ...order.slice(i, j).reverse());
      i = j;
    }
  }
  return order.map((i) => items[i]!);
}
