/**
 * Captions of Chinese and Japanese narrations come one character a word, and those of Thai, Lao,
 * Burmese and Khmer one dictionary word a word, with no space before the words after the first of
 * a run (modal_functions/align `to_captions`). On screen those stand together, without the gap
 * between words. A caption is joined to the one before when it has no leading space and a letter
 * of such a script meets the caption before it (the same rule as `spaces` in
 * modal_functions/align/wordkeys.py): a Latin caption written without its leading space still
 * stands apart.
 */
const UNSPACED =
  /[\u3005\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\u{20000}-\u{3134f}\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u19e0-\u19ff\ua9e0-\ua9ff\uaa60-\uaa7f]/u;
const LETTER = /[\p{L}\p{N}]/u;

function edge(text: string, last: boolean): string {
  const chars = [...text].filter((ch) => LETTER.test(ch));
  return (last ? chars[chars.length - 1] : chars[0]) ?? "";
}

/** The start times (ms) of the captions that join the caption before them. */
export function joinedStarts(captions: Array<{ text: string; startMs: number }>): Set<number> {
  const out = new Set<number>();
  for (let i = 1; i < captions.length; i++) {
    const { text, startMs } = captions[i];
    if (text.startsWith(" ")) continue;
    const last = edge(captions[i - 1].text, true);
    const first = edge(text, false);
    if (last && first && (UNSPACED.test(last) || UNSPACED.test(first))) out.add(startMs);
  }
  return out;
}
