import { HttpError } from "../client/errors.ts";
import { orAborted } from "../orAborted.ts";
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

/** What `orAbandoned` answers when the signal fired first. */
const ABANDONED = Symbol("abandoned");

/** `work`'s outcome, or ABANDONED as soon as `signal` fires (`work` runs on, unawaited). */
function orAbandoned<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T | typeof ABANDONED> {
  return orAborted(work, signal).catch((e: unknown) => {
    if (signal?.aborted && e === signal.reason) return ABANDONED;
    throw e;
  });
}

/**
 * Cancel the compute jobs of a render that is over with no worker left to poll them (the
 * owner's DELETE, a render reaped dead, or failed for good): they would otherwise run, and
 * bill, to the end for nothing. Known jobs are cancelled and their steps end `cancelled`; a
 * step caught mid-placement has its key chased on the backends (`Router.abandon`). Best
 * effort: a failed cancel is logged, never thrown.
 *
 * `signal` (a shutdown that will not wait any longer) abandons the cancels still pending: the
 * HTTP calls cannot be aborted and run on unawaited, their steps are left as they are (the
 * database may be closing), and the jobs left running are logged (`cascade_abandoned`) with
 * their ids: nothing on the compute plane reaps a job nobody polls (it runs to its timeout),
 * so an operator cancels them (DELETE /v1/jobs/{id}).
 */
export async function cancelComputeJobs(deps: Pick<PipelineDeps, "db" | "router" | "log">, renderId: string, steps?: StepRow[], signal?: AbortSignal): Promise<void> {
  const all = steps ?? (await orAbandoned(listSteps(deps.db, renderId), signal));
  if (all === ABANDONED) {
    deps.log.warn({ event: "cascade_abandoned", render_id: renderId, jobs: null }, "stopped before reading which compute jobs of a render that is over to cancel: any may be left running");
    return;
  }
  for (const s of all.filter(mayHaveUnknownJob)) deps.router.abandon(STEP_KIND[s.step]!, s.idempotency_key!, { render_id: renderId, step: s.step });
  const pending = new Set(all.filter(mayStillRun)); // whose cancel has not gone through, nor failed (logged)
  const cancelled = await orAbandoned(Promise.all([...pending].map(async (s) => {
    try {
      await deps.router.client(s.backend!).cancel(s.compute_job_id!).catch((e) => {
        // A job the compute plane has no record of (never made, or its record long expired) is
        // nothing to cancel: not a failed cancel, or every orphan sweep would try it again.
        if (!(e instanceof HttpError && e.status === 404 && e.code === "not_found")) throw e;
      });
      pending.delete(s);
      if (signal?.aborted) return; // abandoned meanwhile: the job is cancelled, its step left as it is
      await saveStep(deps.db, renderId, s.step, { status: "cancelled", finished_at: new Date() });
    } catch (e) {
      if (signal?.aborted) return; // abandoned: logged as such, not as a failure
      pending.delete(s);
      deps.log.warn({ event: "cancel_cascade_failed", render_id: renderId, step: s.step, backend: s.backend, compute_job_id: s.compute_job_id, err: String(e) }, "could not cancel the compute job of a render that is over");
    }
  })), signal);
  if (cancelled === ABANDONED && pending.size) {
    const jobs = [...pending].map((s) => ({ step: s.step, backend: s.backend, compute_job_id: s.compute_job_id }));
    deps.log.warn({ event: "cascade_abandoned", render_id: renderId, jobs }, "stopped without waiting for the cancel of compute jobs of a render that is over: they may run on to their timeout");
  }
}
