import React, { useCallback } from "react";
import { Html5Audio, useVideoConfig } from "remotion";
import type { Caption } from "@remotion/captions";
import { DUCK_RAMP_MS } from "./constants";

// 0..1: how far the music is ducked at `timeMs` (1 while a word is spoken,
// ramping over DUCK_RAMP_MS before and after each word).
export const duckAmount = (captions: Caption[], timeMs: number): number => {
  let amount = 0;
  for (const c of captions) {
    if (c.startMs - DUCK_RAMP_MS > timeMs) break; // captions are sorted by time
    const distance = timeMs < c.startMs ? c.startMs - timeMs : Math.max(0, timeMs - c.endMs);
    amount = Math.max(amount, 1 - distance / DUCK_RAMP_MS);
    if (amount >= 1) return 1;
  }
  return Math.max(0, amount);
};

// Narration at full volume; background music looped and ducked under the narration.
// The music's volume curve runs on the video's clock ("extend"): with Remotion's default
// ("repeat") every loop of a short track gets the frames of the first one, so after the
// first loop the music ducked where the first loop's words were, not under the words spoken.
export const Soundtrack: React.FC<{
  narration: string | null;
  music: string | null;
  musicVolume: number;
  musicDuckedVolume: number;
  captions: Caption[];
}> = ({ narration, music, musicVolume, musicDuckedVolume, captions }) => {
  const { fps } = useVideoConfig();
  const volume = useCallback(
    (frame: number) => {
      if (!narration) return musicVolume;
      if (captions.length === 0) return Math.min(musicVolume, musicDuckedVolume);
      const duck = duckAmount(captions, (frame * 1000) / fps);
      return musicVolume + (Math.min(musicVolume, musicDuckedVolume) - musicVolume) * duck;
    },
    [captions, fps, musicVolume, musicDuckedVolume, narration],
  );
  return (
    <>
      {narration ? <Html5Audio src={narration} /> : null}
      {music ? <Html5Audio src={music} loop loopVolumeCurveBehavior="extend" volume={volume} /> : null}
    </>
  );
};
