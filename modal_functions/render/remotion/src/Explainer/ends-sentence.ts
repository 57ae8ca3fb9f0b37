/**
 * The word ends a sentence: a full stop, ? or ! of any script, looking past closing quotes and brackets
 * and trailing emoji ("tide.", "“Yes.”", "(really?)", "Done. 🎉"), as the alignment's
 * SRT cues do (modal_functions/align/captions.py `ends_sentence`). A full stop ends none after an
 * abbreviation ("Dr. Jones", "e.g. after") or before a lowercase word ("U.S.A. is", "St. on").
 */
// ABBREVIATIONS in captions.py: titles before a name, and "e.g." and the like; not "etc."
const ABBREVIATIONS = new Set("mr mrs ms mx dr prof st mt vs e.g i.e cf approx ca".split(" "));

export function endsSentence(text: string, following?: string): boolean {
  // closing brackets and quotes, symbols (emoji, their skin tones), marks and format chars
  const core = text.replace(/[\s"'\p{Pe}\p{Pf}\p{So}\p{Sk}\p{Sm}\p{Sc}\p{Mn}\p{Me}\p{Cf}]+$/u, "");
  // full stops, ? and ! of every script (SENTENCE_ENDS in captions.py)
  if (!/[.!?。！？｡．।॥؟۔։።။។‼⁇⁈⁉]$/u.test(core)) return false;
  if (!/[.．]$/u.test(core)) return true;
  if (ABBREVIATIONS.has(core.toLowerCase().replace(/^["'“‘«(\[{¿¡]+/u, "").replace(/\.+$/u, ""))) return false;
  const first = [...(following ?? "")].find((ch) => /\p{L}/u.test(ch)) ?? "";
  return !(first !== first.toUpperCase() && first === first.toLowerCase());
}
