import type { JobCreate } from "../contract.ts";
import type { StepName } from "../queue/index.ts";

/** The compute kind each compute step submits (`publish` is the worker's own). */
export const STEP_KIND: Readonly<Partial<Record<StepName, JobCreate["kind"]>>> = {
  images: "generate_images",
  align: "transcribe_audio",
  render: "render_video",
};
