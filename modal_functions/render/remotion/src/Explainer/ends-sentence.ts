/**
 * The word ends a sentence: a full stop, ? or ! of any script, looking past closing quotes and brackets
 * and trailing emoji ("tide.", "“Yes.”", "(really?)", "Done. 🎉"), as the alignment's
 * SRT cues do (modal_functions/align/captions.py `ends_sentence`).
 */
export function endsSentence(text: string): boolean {
  // closing brackets and quotes, symbols (emoji, their skin tones), marks and format chars
  const core = text.replace(/[\s"'\p{Pe}\p{Pf}\p{So}\p{Sk}\p{Sm}\p{Sc}\p{Mn}\p{Me}\p{Cf}]+$/u, "");
  // full stops, ? and ! of every script (SENTENCE_ENDS in captions.py)
  return /[.!?。！？｡．।॥؟۔։።။។‼⁇⁈⁉]$/u.test(core);
}
