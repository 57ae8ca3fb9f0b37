import type { CalculateMetadataFunction } from "remotion";
import { dimensions, durationInFrames } from "./dimensions";
import { explainerSchema, type ExplainerProps } from "./schema";

// Resolution, fps and duration come from the props, never hard-coded.
export const calculateExplainerMetadata: CalculateMetadataFunction<ExplainerProps> = ({ props }) => {
  const parsed = explainerSchema.parse(props); // applies defaults
  const { width, height } = dimensions(parsed.aspectRatio, parsed.resolution);
  return {
    width,
    height,
    fps: parsed.fps,
    durationInFrames: durationInFrames(parsed.durationMs, parsed.fps),
    props: parsed,
  };
};
