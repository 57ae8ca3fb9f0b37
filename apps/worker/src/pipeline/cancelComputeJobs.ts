import { listSteps, saveStep } from "../queue/index.ts";
import type { PipelineDeps } from "./types.ts";

/**
 * Cancel the compute jobs a render's steps were left waiting on, once the render is over with
 * no worker to poll them (reaped dead after its worker died on the last attempt): they would
 * otherwise run, and bill, to the end for nothing. Their steps end `cancelled`. Best effort:
 * a failed cancel is logged, never thrown.
 */
export async function cancelComputeJobs(deps: Pick<PipelineDeps, "db" | "router" | "log">, renderId: string): Promise<void> {
  const steps = (await listSteps(deps.db, renderId)).filter((s) => s.compute_job_id && s.backend && (s.status === "running" || s.status === "submitting"));
  await Promise.all(steps.map(async (s) => {
    try {
      await deps.router.client(s.backend!).cancel(s.compute_job_id!);
      await saveStep(deps.db, renderId, s.step, { status: "cancelled", finished_at: new Date() });
    } catch (e) {
      deps.log.warn({ event: "cancel_cascade_failed", render_id: renderId, step: s.step, backend: s.backend, compute_job_id: s.compute_job_id, err: String(e) }, "could not cancel the compute job of a dead render");
    }
  }));
}
