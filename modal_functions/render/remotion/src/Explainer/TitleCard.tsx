import React from "react";
import { AbsoluteFill, interpolate, useCurrentFrame, useVideoConfig } from "remotion";
import { FONT_FAMILY } from "../fonts";
import { TITLE_FADE_MS, TITLE_FONT_SCALE } from "./constants";

// The opening title over the first scene; fades out at the end of `titleFrames`.
export const TitleCard: React.FC<{ title: string; titleFrames: number }> = ({ title, titleFrames }) => {
  const frame = useCurrentFrame();
  const { fps, width, height } = useVideoConfig();
  const fade = Math.max(1, Math.round((TITLE_FADE_MS * fps) / 1000));
  const opacity = interpolate(frame, [titleFrames - fade, titleFrames], [1, 0], {
    extrapolateLeft: "clamp",
    extrapolateRight: "clamp",
  });
  const short = Math.min(width, height);
  return (
    <AbsoluteFill
      style={{
        opacity,
        backgroundColor: "rgba(0,0,0,0.55)",
        justifyContent: "center",
        alignItems: "center",
        padding: short * 0.08,
      }}
    >
      <div
        dir="auto"
        style={{
          fontFamily: FONT_FAMILY,
          fontWeight: 800,
          fontSize: short * TITLE_FONT_SCALE,
          lineHeight: 1.15,
          color: "#FFFFFF",
          textAlign: "center",
          overflowWrap: "anywhere", // a word wider than the frame breaks instead of running off both edges
        }}
      >
        {title}
      </div>
    </AbsoluteFill>
  );
};
