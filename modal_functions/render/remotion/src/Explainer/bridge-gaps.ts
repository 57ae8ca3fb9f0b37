import type { TikTokPage } from "@remotion/captions";
import { CAPTION_PAUSE_MS } from "./constants";

/**
 * Extend each word's end to the next word's start (on its page or the next page) when the
 * silence between them is shorter than `holdMs`. Refined word ends are tight (they stop
 * where the voice stops), so a word and the next are often 10-50 ms apart: without this the
 * highlight blinks off for a frame or two between words, and the whole caption block for a
 * frame between pages (a page shows until its last word ends). A longer pause (a sentence
 * break) still clears the highlight at the word's end. Starts never move, so each word
 * still lights up on its own first frame; the pages are cut before this, from the real
 * times, so paging does not change. Words are in order and do not overlap (the timeline is
 * validated before a render).
 */
export function bridgeShortGaps(pages: TikTokPage[], holdMs: number = CAPTION_PAUSE_MS): TikTokPage[] {
  const starts = pages.flatMap((p) => p.tokens.map((t) => t.fromMs));
  let k = 0;
  return pages.map((page) => ({
    ...page,
    tokens: page.tokens.map((token) => {
      k += 1;
      const next = starts[k];
      if (next === undefined) return token;
      const gap = next - token.toMs;
      return gap > 0 && gap < holdMs ? { ...token, toMs: next } : token;
    }),
  }));
}
