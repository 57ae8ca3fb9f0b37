import { listSteps, saveStep, type StepRow } from "../queue/index.ts";
import { STEP_KIND } from "./stepKinds.ts";
import type { PipelineDeps } from "./types.ts";
import { COMPUTE_UNREACHABLE } from "./waitForJob.ts";

/**
 * A step whose compute job may still be running: one it was waiting on (`running`, or
 * `submitting` with its id recorded), or one its polls never got through to
 * (`compute_unreachable`: the job was never known to end).
 */
export function mayStillRun(s: StepRow): boolean {
  if (!s.compute_job_id || !s.backend) return false;
  return s.status === "running" || s.status === "submitting" || (s.status === "failed" && s.error?.code === COMPUTE_UNREACHABLE);
}

/** A step still being placed when its worker stopped: a POST of its key may have made a job nobody knows the id of. */
function mayHaveUnknownJob(s: StepRow): boolean {
  return s.status === "submitting" && !s.compute_job_id && !!s.idempotency_key && !!STEP_KIND[s.step];
}

/**
 * Cancel the compute jobs of a render that is over with no worker left to poll them (the
 * owner's DELETE, a render reaped dead, or failed for good): they would otherwise run, and
 * bill, to the end for nothing. Known jobs are cancelled and their steps end `cancelled`; a
 * step caught mid-placement has its key chased on the backends (`Router.abandon`). Best
 * effort: a failed cancel is logged, never thrown.
 */
export async function cancelComputeJobs(deps: Pick<PipelineDeps, "db" | "router" | "log">, renderId: string, steps?: StepRow[]): Promise<void> {
  const all = steps ?? (await listSteps(deps.db, renderId));
  for (const s of all.filter(mayHaveUnknownJob)) deps.router.abandon(STEP_KIND[s.step]!, s.idempotency_key!, { render_id: renderId, step: s.step });
  await Promise.all(all.filter(mayStillRun).map(async (s) => {
    try {
      await deps.router.client(s.backend!).cancel(s.compute_job_id!);
      await saveStep(deps.db, renderId, s.step, { status: "cancelled", finished_at: new Date() });
    } catch (e) {
      deps.log.warn({ event: "cancel_cascade_failed", render_id: renderId, step: s.step, backend: s.backend, compute_job_id: s.compute_job_id, err: String(e) }, "could not cancel the compute job of a render that is over");
    }
  }));
}
