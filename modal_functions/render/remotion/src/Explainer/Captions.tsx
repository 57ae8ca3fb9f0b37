import React, { useMemo } from "react";
import { useCurrentFrame, useVideoConfig } from "remotion";
import { createTikTokStyleCaptions, type Caption } from "@remotion/captions";
import { CaptionPage } from "./CaptionPage";
import { bridgeShortGaps } from "./bridge-gaps";
import { endsSentence } from "./ends-sentence";
import { joinedStarts } from "./joined-words";
import { CAPTION_COMBINE_WITHIN_MS, CAPTION_PAUSE_MS } from "./constants";

// Captions paged TikTok-style: a page ends at a sentence end, at a pause (CAPTION_PAUSE_MS)
// or once it spans CAPTION_COMBINE_WITHIN_MS, so pages follow the narration's sentences and
// breaths even when a fast voice barely pauses between sentences. The page and the
// highlighted word are chosen from the exact time of the frame (frame / fps), so a word
// lights up on the first frame at or after its startMs. Through a shorter silence a word
// stays lit up to the next word (bridgeShortGaps), so neither the highlight nor the page
// blinks off between words. The characters of Chinese or Japanese captions stand together
// (joinedStarts).
export const Captions: React.FC<{ captions: Caption[]; highlightColor: string }> = ({
  captions,
  highlightColor,
}) => {
  const frame = useCurrentFrame();
  const { fps } = useVideoConfig();
  const pages = useMemo(() => {
    const spaced = captions.map((c, i) => ({
      ...c,
      text: ` ${c.text.trim()}`,
      pageBreakAfter: endsSentence(c.text, captions[i + 1]?.text),
    }));
    const cut = createTikTokStyleCaptions({
      captions: spaced,
      combineTokensWithinMilliseconds: CAPTION_COMBINE_WITHIN_MS,
      breakOnSilenceAfterMilliseconds: CAPTION_PAUSE_MS,
    });
    return bridgeShortGaps(cut.pages);
  }, [captions]);
  const joined = useMemo(() => joinedStarts(captions), [captions]);

  const timeMs = (frame * 1000) / fps;
  const page = pages.find((p) => {
    const end = p.tokens.length ? p.tokens[p.tokens.length - 1].toMs : p.startMs + p.durationMs;
    return p.startMs <= timeMs && timeMs < end;
  });
  if (!page) return null;
  return <CaptionPage page={page} timeMs={timeMs} highlightColor={highlightColor} joined={joined} />;
};
