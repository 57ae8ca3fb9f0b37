import type { ExplainerProps } from "./schema";

// `resolution` is the short side ("720p"); width and height follow from the
// aspect ratio and are always even (H.264 with yuv420p needs that).
// modal_functions/render/timeline.py computes exactly the same numbers.
export const dimensions = (
  aspectRatio: ExplainerProps["aspectRatio"],
  resolution: number,
): { width: number; height: number } => {
  const long = Math.round((resolution * 16) / 9 / 2) * 2;
  if (aspectRatio === "16:9") return { width: long, height: resolution };
  if (aspectRatio === "9:16") return { width: resolution, height: long };
  return { width: resolution, height: resolution };
};

/** Frame index at a time (round half up), as the Python side does. */
export const msToFrame = (ms: number, fps: number): number => Math.round((ms * fps) / 1000);

export const durationInFrames = (durationMs: number, fps: number): number =>
  Math.max(1, msToFrame(durationMs, fps));
