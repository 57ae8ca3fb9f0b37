/**
 * Run one compute step of a render durably (the long-job protocol):
 *
 *   1. a step already `succeeded` returns its persisted output: it never runs again;
 *   2. a step with (backend, compute_job_id) from a previous worker reattaches and polls;
 *   3. otherwise route + submit with idempotency key `{render_id}:{step}:{step_attempt}`,
 *      writing the backend before each submission and (backend, compute_job_id) before
 *      waiting, so a worker killed at any point resumes without running the job twice;
 *   4. a failed or lost job bumps step_attempt next time (a new key, a new job); so does a
 *      submission that failed (refused with a 4xx, or no backend within the router's wait
 *      budget): its step ends `failed` with the error, never left `submitting`. A job whose
 *      backend could not be polled for a while is not known to be lost: the next attempt
 *      looks at it once and reattaches if it is still queued, running or succeeded;
 *
 * Cancelling (signal aborted with reason "cancelled") cancels the in-flight compute job.
 * The owner's DELETE also cancels the compute jobs directly, so the poll often sees a job
 * `cancelled` before the heartbeat sees the render cancelled: a job observed cancelled while
 * the render row is cancelled ends the step `cancelled` and throws RenderAborted("cancelled"),
 * exactly like the heartbeat path. A job cancelled by anyone else while the step waits on it
 * is a failed step (with the compute plane's error); one the key hands back already cancelled
 * (a copy a chase took for an orphan) fails it retryably: a new attempt takes a new key.
 */
import type { Job, JobCreate } from "../contract.ts";
import { errorCode, isBrokenCircuit, isSubmissionInProgress, isTransient } from "../client/errors.ts";
import { isTooManyRequests } from "../router/tooManyRequests.ts";
import type { BackendName } from "../client/modal-client.ts";
import { getRender, recordDecision, setProgress, type StepName, type StepRow } from "../queue/index.ts";
import { saveOwnStep } from "./saveOwnStep.ts";
import { RenderAborted, StepError, toJobError } from "./errors.ts";
import type { RenderContext } from "./types.ts";
import { COMPUTE_UNREACHABLE, JobLostError, waitForJob } from "./waitForJob.ts";

export async function runComputeStep(
  ctx: RenderContext,
  step: StepName,
  kind: JobCreate["kind"],
  input: () => Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const { db, router, log, metrics } = ctx.deps;
  const renderId = ctx.render.id;
  const prev = ctx.steps.get(step);
  if (prev?.status === "succeeded" && prev.output) {
    log.info({ event: "step_skipped", render_id: renderId, step }, "step already finished: reusing its output");
    return prev.output;
  }
  const context = { render_id: renderId, step };
  const recovered = await stillThere(ctx, prev); // a job polled in vain last attempt, there after all
  const resumable = prev && (prev.status === "running" || prev.status === "submitting" || prev.status === "pending" || recovered);
  const attempt = !prev ? 1 : resumable ? prev.step_attempt : prev.step_attempt + 1;
  const resumedSubmitting = prev?.status === "submitting" && prev.step_attempt === attempt; // another worker may have POSTed this key
  const key = `${renderId}:${step}:${attempt}`;
  const t0 = performance.now();
  let backend: BackendName;
  let job: Job;

  if (prev && (prev.status === "running" || recovered) && prev.backend && prev.compute_job_id && prev.step_attempt === attempt) {
    backend = prev.backend;
    log.info({ event: "reattach", ...context, backend, compute_job_id: prev.compute_job_id }, "reattaching to running compute job");
    job = { id: prev.compute_job_id } as Job;
    if (recovered) await saveOwnStep(ctx, step, { status: "running", error: null, finished_at: null });
  } else {
    const body = input();
    let placed: { job: Job; backend: BackendName } | null = null;
    let placedOn: BackendName | null = null; // the router placed the job; recording it is what may fail
    try {
      if (prev?.status === "submitting" && prev.backend && prev.step_attempt === attempt) {
        // Killed between submitting and recording the job id: the backend tried last may hold
        // the job it created. Look the key up there, submitting nothing: with no job there the
        // router places the step like any other, in-house first (resubmitting to the backend
        // tried last put a resumed step on Modal while in-house had room). A POST that backend
        // is still handling is waited for by resubmitting the key: it returns the job it makes.
        placed = await lastTried(ctx, prev.backend, kind, body, key);
        if (placed) log.info({ event: "resubmit_same_backend", ...context, backend: prev.backend, compute_job_id: placed.job.id }, "found the job of the backend tried before");
      }
      if (!placed) {
        const fresh = attempt !== prev?.step_attempt; // a new attempt: the job before's progress is not its
        await saveOwnStep(ctx, step, { status: "submitting", step_attempt: attempt, idempotency_key: key, backend: null, compute_job_id: null, error: null, started_at: new Date(), ...(fresh ? { progress: {} } : {}) });
        if (fresh) await setProgress(db, renderId, ctx.deps.workerId, step, { status: "submitting", step_attempt: attempt });
        const r = await router.submit(kind, body, key, {
          signal: ctx.signal,
          context,
          onAttempt: async (b) => void (await saveOwnStep(ctx, step, { backend: b })),
          onDecision: async (d) => {
            placedOn = d.backend;
            await recordDecision(db, renderId, step, d.backend, d.reason);
            await saveOwnStep(ctx, step, { route_reason: d.reason });
          },
        });
        placed = { job: r.job, backend: r.decision.backend };
      }
    } catch (e) {
      if (placedOn !== null && !cancelledBy(ctx, e)) {
        // The job was placed, but writing the decision down failed (a database blip): the
        // step stays `submitting` on the backend that took it, so the next attempt finds that
        // job by its key (lastTried). Failed, it took a new key and paid for a second job
        // while the first ran on with nobody polling it.
        throw e;
      }
      await submitFailed(ctx, step, e);
      // The step will not wait for this key again (render over, or a new key next attempt):
      // a POST that got no answer may have made a job no one knows the id of. A lease lost or
      // a shutdown keeps the key: whoever runs the render next resubmits it and gets that job.
      // Narrowed to where this worker's POSTs went unanswered only if all of them were its own
      // and none was answered with a job (a job placed, then the render cancelled, is chased too).
      if (!handedOver(ctx, e)) router.abandon(kind, key, context, { onlyWhereUnanswered: !resumedSubmitting && placedOn === null });
      throw e;
    }
    backend = placed.backend;
    job = placed.job;
    if (job.status === "cancelled") {
      // The key's job had been cancelled before this attempt placed it (a copy a chase took for
      // an orphan, replayed by the key): this attempt's work was never started, so a new attempt
      // with a new key takes it on, and the render does not end over it.
      const error = { code: "cancelled", message: `compute job ${job.id} for key ${key} had been cancelled before this attempt: a new attempt takes a new key`, retryable: true };
      await saveOwnStep(ctx, step, { status: "failed", backend, compute_job_id: job.id, error, finished_at: new Date() });
      throw new StepError(step, error);
    }
    if (resumedSubmitting) router.chaseResumed(kind, key, { backend, jobId: job.id }, context);
    // Written before waiting: a restarted worker reattaches to this job.
    await saveOwnStep(ctx, step, { status: "running", backend, compute_job_id: job.id, idempotency_key: key, step_attempt: attempt });
  }

  const client = router.client(backend);
  // Progress shown for this step attempt never goes back: a worker that reattached starts from
  // what the one before it showed, and a job reporting less (restarted inside the compute
  // plane, or a lagging answer) keeps the highest count shown.
  const shown = prev?.step_attempt === attempt && prev.compute_job_id === job.id ? prev.progress : undefined;
  let highest = typeof shown?.done === "number" ? shown.done : 0;
  let done: Job;
  try {
    done = await waitForJob(client, job.id, {
      signal: ctx.signal,
      ...ctx.deps.poll,
      onUpdate: async (j) => {
        highest = Math.max(highest, j.progress?.done ?? 0);
        const progress = { status: j.status, backend, compute_job_id: j.id, ...j.progress, done: highest };
        await saveOwnStep(ctx, step, { progress });
        await setProgress(db, renderId, ctx.deps.workerId, step, { ...progress, step_attempt: attempt });
        ctx.emit?.();
      },
    });
  } catch (e) {
    if (ctx.signal.aborted) {
      const reason = (ctx.signal.reason as RenderAborted | undefined)?.reason;
      if (reason === "cancelled") {
        await client.cancel(job.id).catch((ce) => log.warn({ event: "cancel_failed", ...context, err: String(ce) }, "could not cancel compute job"));
        await saveOwnStep(ctx, step, { status: "cancelled", finished_at: new Date() });
      }
      throw ctx.signal.reason instanceof RenderAborted ? ctx.signal.reason : e;
    }
    if (e instanceof JobLostError) {
      // Unreachable (not 404): backend and compute_job_id stay on the row, for stillThere().
      await saveOwnStep(ctx, step, { status: "failed", error: { code: e.code, message: e.message, retryable: true }, finished_at: new Date() });
      throw new StepError(step, { code: e.code, message: e.message, retryable: true });
    }
    throw e;
  }

  if (done.status === "cancelled" && (await renderCancelled(ctx))) {
    recordJobMetrics(ctx, done, { ownerCancelled: true });
    log.info({ event: "step_cancelled", ...context, backend, compute_job_id: done.id }, "compute job cancelled with its render");
    await saveOwnStep(ctx, step, { status: "cancelled", finished_at: new Date() });
    throw new RenderAborted("cancelled");
  }
  recordJobMetrics(ctx, done);
  metrics.stepDuration.observe({ step }, (performance.now() - t0) / 1000);
  if (done.status === "succeeded" && done.result) {
    await saveOwnStep(ctx, step, { status: "succeeded", output: done.result, error: null, finished_at: new Date() });
    return done.result;
  }
  const error = done.error ?? { code: done.status === "cancelled" ? "cancelled" : "failed", message: `compute job ${done.id} ${done.status}`, retryable: true };
  await saveOwnStep(ctx, step, { status: "failed", error, finished_at: new Date() });
  throw new StepError(step, { ...error, retryable: error.retryable ?? false });
}

/**
 * The step could not be placed (a 4xx, no backend within the wait budget, the render
 * cancelled while it waited): end its row (it would stay `submitting` for ever); a failed
 * one is also named as the render's current step, with its error as the step's progress.
 * A lease lost or a shutdown leaves it `submitting`: whoever runs the render next
 * resubmits the same key and gets the job the last POST may have made.
 */
async function submitFailed(ctx: RenderContext, step: StepName, e: unknown): Promise<void> {
  const aborted: unknown = ctx.signal.aborted ? ctx.signal.reason : e instanceof RenderAborted ? e : undefined;
  const finished_at = new Date();
  if (aborted !== undefined) {
    if (!cancelledBy(ctx, e)) return;
    // The render's step is left as it is: a sibling step cancelled because the other one
    // failed must not take over the name of the step that ended the render.
    await saveOwnStep(ctx, step, { status: "cancelled", finished_at });
    return;
  }
  const error = toJobError(e);
  await saveOwnStep(ctx, step, { status: "failed", error, finished_at });
  await setProgress(ctx.deps.db, ctx.render.id, ctx.deps.workerId, step, { status: "failed", message: `${error.code}: ${error.message}` });
}

/**
 * A step whose last attempt ended because its backend could not be polled for a while
 * (`compute_unreachable`): its job was never known to be gone, and may have been running or
 * have finished all along. Look once: a job still queued, running or succeeded is reattached
 * (no second job paid for); one that failed, was cancelled or is unknown (404), or a backend
 * still unreachable, means a new step attempt, as for any failed step.
 */
async function stillThere(ctx: RenderContext, prev: StepRow | undefined): Promise<boolean> {
  if (prev?.status !== "failed" || prev.error?.code !== COMPUTE_UNREACHABLE || !prev.backend || !prev.compute_job_id) return false;
  try {
    const job = await ctx.deps.router.client(prev.backend).get(prev.compute_job_id, ctx.signal);
    return job?.status === "queued" || job?.status === "running" || job?.status === "succeeded";
  } catch (e) {
    ctx.signal.throwIfAborted(); // a stop, not an answer: the step's next attempt is not decided on it
    ctx.deps.log.warn({ event: "unreachable_job_gone", render_id: ctx.render.id, step: prev.step, backend: prev.backend, compute_job_id: prev.compute_job_id, code: errorCode(e) }, "the job its backend could not be polled for is not there: new step attempt");
    return false;
  }
}

/** The job the backend tried last holds for `key`, if it can tell; null to place the step afresh. */
async function lastTried(ctx: RenderContext, name: BackendName, kind: JobCreate["kind"], body: Record<string, unknown>, key: string): Promise<{ job: Job; backend: BackendName } | null> {
  const client = ctx.deps.router.client(name);
  try {
    const found = await client.findByIdempotencyKey(key, kind, ctx.signal);
    return found ? { job: found, backend: name } : null;
  } catch (e) {
    ctx.signal.throwIfAborted(); // stopped: the step stays as it is, for whoever resumes it
    if (!isSubmissionInProgress(e)) return null; // cannot tell: placed afresh, and the router chases a copy there (chaseResumed)
  }
  try {
    return { job: await client.submit(kind, body, key, undefined, ctx.signal), backend: name };
  } catch (e) {
    ctx.signal.throwIfAborted();
    if (isTooManyRequests(e) || isTransient(e) || isBrokenCircuit(e)) return null;
    throw e;
  }
}

/** The attempt stopped for a lease lost or a shutdown: the render goes on elsewhere with the same step attempt. */
function handedOver(ctx: RenderContext, e: unknown): boolean {
  const aborted: unknown = ctx.signal.aborted ? ctx.signal.reason : e instanceof RenderAborted ? e : undefined;
  return aborted !== undefined && !cancelledBy(ctx, e);
}

/** The submission ended because the render is over (`RenderAborted("cancelled")`), not for a lease lost or a shutdown. */
function cancelledBy(ctx: RenderContext, e: unknown): boolean {
  const aborted: unknown = ctx.signal.aborted ? ctx.signal.reason : e instanceof RenderAborted ? e : undefined;
  return aborted instanceof RenderAborted && aborted.reason === "cancelled";
}

/** The render was cancelled by its owner (the condition the heartbeat reports as `cancel`). */
async function renderCancelled(ctx: RenderContext): Promise<boolean> {
  const row = await getRender(ctx.deps.db, ctx.render.id);
  return row?.status === "cancelled" || row?.cancel_requested_at != null;
}

function recordJobMetrics(ctx: RenderContext, j: Job, o: { ownerCancelled?: boolean } = {}): void {
  const m = ctx.deps.metrics;
  const labels = { backend: j.backend, kind: j.kind };
  m.invocations.inc({ ...labels, outcome: j.status });
  if (j.started_at && j.finished_at) m.duration.observe(labels, (Date.parse(j.finished_at) - Date.parse(j.started_at)) / 1000);
  if (typeof j.queue_seconds === "number") m.queueTime.observe(labels, j.queue_seconds);
  if (j.cold_start) m.coldStarts.inc(labels);
  if (j.cost?.usd) m.costUsd.inc(labels, j.cost.usd);
  if (j.status !== "succeeded" && !o.ownerCancelled) m.errors.inc({ backend: j.backend, code: j.error?.code ?? j.status });
}

export type { StepRow };
