import type { Render, RenderSummary } from "../contract.ts";
import type { RenderListRow, RenderRow, StepRow } from "../queue/index.ts";

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

type SummaryFields = Omit<RenderListRow, "position">;

/**
 * What every view of a render says. A failed attempt that will be retried leaves the row
 * `queued` with the error in last_error and run_at in the future: that is what
 * next_attempt_at names, so a retry does not read as a fresh render that also failed.
 * `error` is kept for how the render ended (failed, dead, cancelled), never for a retry.
 */
export function toRenderSummary(row: SummaryFields): RenderSummary {
  // attempts counts started attempts (a graceful release refunds its own): queued with one
  // behind it means an attempt failed and this one is its retry.
  const waitingForRetry = row.status === "queued" && row.attempts > 0;
  const ended = row.status === "failed" || row.status === "dead" || row.status === "cancelled";
  return {
    id: row.id,
    owner: row.owner,
    status: row.status,
    step: row.step,
    title: row.title,
    attempts: row.attempts,
    max_attempts: row.max_attempts,
    next_attempt_at: waitingForRetry ? iso(row.run_at) : null,
    idempotency_key: row.idempotency_key,
    result: (row.result as Render["result"]) ?? null,
    error: ended ? row.last_error : null,
    last_error: row.status === "succeeded" ? null : row.last_error,
    created_at: iso(row.created_at)!,
    updated_at: iso(row.updated_at)!,
    run_at: iso(row.run_at)!,
  };
}

/** A render_jobs row (+ its steps) as the API's `Render`. */
export function toRender(row: RenderRow, steps: StepRow[]): Render {
  return {
    // A row inserted directly may hold any JSON (the worker fails it later): only a string is a title.
    ...toRenderSummary({ ...row, title: typeof row.request?.title === "string" ? row.request.title : null }),
    request: row.request,
    steps: steps.map((s) => ({
      step: s.step,
      status: s.status,
      step_attempt: s.step_attempt,
      backend: s.backend,
      compute_job_id: s.compute_job_id,
      idempotency_key: s.idempotency_key,
      route_reason: s.route_reason,
      progress: s.progress as NonNullable<Render["steps"]>[number]["progress"],
      output: s.output,
      error: s.error,
    })),
  };
}
