import { staticFile } from "remotion";
import type { ExplainerProps } from "./schema";

// Studio preview only: real renders always pass a timeline as input props.
export const defaultExplainerProps: ExplainerProps = {
  aspectRatio: "16:9",
  resolution: 720,
  fps: 30,
  durationMs: 4000,
  title: "CanvasCast",
  titleMs: 1500,
  scenes: [
    {
      image: staticFile("preview.svg"),
      startMs: 0,
      endMs: 4000,
      kenBurnsFrom: { zoom: 1, x: 0.5, y: 0.5 },
      kenBurnsTo: { zoom: 1.2, x: 0.4, y: 0.4 },
      transition: "cut",
    },
  ],
  transitionMs: 500,
  narration: null,
  captions: [
    { text: "Explainer", startMs: 1500, endMs: 2200, timestampMs: null, confidence: null },
    { text: "videos", startMs: 2200, endMs: 2900, timestampMs: null, confidence: null },
    { text: "from", startMs: 2900, endMs: 3300, timestampMs: null, confidence: null },
    { text: "timelines", startMs: 3300, endMs: 4000, timestampMs: null, confidence: null },
  ],
  music: null,
  musicVolume: 0.25,
  musicDuckedVolume: 0.08,
  highlightColor: "#FFD400",
  degraded: false,
};
