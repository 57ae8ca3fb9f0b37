import React from "react";
import { AbsoluteFill, useVideoConfig } from "remotion";
import type { TikTokPage } from "@remotion/captions";
import { FONT_FAMILY } from "../fonts";
import { pageDir, strongDir, visualOrder } from "./bidi-order";
import {
  CAPTION_ACTIVE_TEXT_COLOR,
  CAPTION_BOTTOM,
  CAPTION_BOTTOM_PORTRAIT,
  CAPTION_FONT_SCALE,
  CAPTION_TEXT_COLOR,
} from "./constants";

// One page of words; the word being spoken at `timeMs` sits on a highlight box. Words that
// join the word before (`joined`: start times, the characters of Chinese or Japanese) form one
// group with no gap inside; the gap, and line wrapping, are between groups (and within a group
// too long for a line). The page runs in the direction of its first strong letter (Arabic and
// Hebrew right to left); words of the other direction inside it keep their own order (`visualOrder`).
export const CaptionPage: React.FC<{
  page: TikTokPage;
  timeMs: number;
  highlightColor: string;
  joined?: ReadonlySet<number>;
}> = ({ page, timeMs, highlightColor, joined }) => {
  const { width, height } = useVideoConfig();
  const fontSize = Math.min(width, height) * CAPTION_FONT_SCALE;
  const dir = pageDir(page.tokens.map((t) => t.text));
  const text = (group: Token[]) => group.map((t) => t.text).join("");
  return (
    <AbsoluteFill style={{ justifyContent: "flex-end", alignItems: "center" }}>
      <div
        dir={dir}
        style={{
          marginBottom: height * (height > width ? CAPTION_BOTTOM_PORTRAIT : CAPTION_BOTTOM),
          maxWidth: width * 0.9,
          display: "flex",
          flexWrap: "wrap",
          justifyContent: "center",
          gap: fontSize * 0.2,
          fontFamily: FONT_FAMILY,
          fontWeight: 800,
          fontSize,
          lineHeight: 1.25,
        }}
      >
        {/* Keyed by place, not start time: a word of no length starts with the next one, and
            colliding keys left it on screen on every page after its own. */}
        {visualOrder(groups(page.tokens, joined), text, dir).map((group, g) => (
          <span
            key={g}
            dir={strongDir(text(group)) ?? undefined}
            style={{ display: "flex", flexWrap: "wrap", justifyContent: "center", maxWidth: "100%" }}
          >
            {group.map((token, k) => {
              const active = token.fromMs <= timeMs && timeMs < token.toMs;
              return (
                <span
                  key={k}
                  style={{
                    padding: `0 ${fontSize * 0.18}px`,
                    borderRadius: fontSize * 0.18,
                    color: active ? CAPTION_ACTIVE_TEXT_COLOR : CAPTION_TEXT_COLOR,
                    backgroundColor: active ? highlightColor : "rgba(0,0,0,0.45)",
                    overflowWrap: "anywhere", // a word wider than the block breaks instead of running off both edges
                  }}
                >
                  {token.text.trim()}
                </span>
              );
            })}
          </span>
        ))}
      </div>
    </AbsoluteFill>
  );
};

type Token = TikTokPage["tokens"][number];

function groups(tokens: Token[], joined?: ReadonlySet<number>): Token[][] {
  const out: Token[][] = [];
  for (const token of tokens) {
    if (out.length && joined?.has(token.fromMs)) out[out.length - 1].push(token);
    else out.push([token]);
  }
  return out;
}
