import { saveHeldStep } from "../queue/index.ts";
import type { StepRow } from "../queue/types.ts";
import { RenderAborted } from "./errors.ts";
import type { RenderContext } from "./types.ts";

type StepPatch = Parameters<typeof saveHeldStep>[4];

/** Save a step row of the render this worker holds; a lease lost meanwhile stops the render quietly. */
export async function saveOwnStep(ctx: RenderContext, step: StepRow["step"], patch: StepPatch): Promise<void> {
  if (!(await saveHeldStep(ctx.deps.db, ctx.render.id, ctx.deps.workerId, step, patch))) throw new RenderAborted("lease_lost");
}
