import type { Render } from "../contract.ts";
import type { RenderRow, StepRow } from "../queue/index.ts";

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

/** A render_jobs row (+ its steps) as the API's `Render`. */
export function toRender(row: RenderRow, steps: StepRow[]): Render {
  return {
    id: row.id,
    owner: row.owner,
    status: row.status,
    step: row.step,
    attempts: row.attempts,
    max_attempts: row.max_attempts,
    idempotency_key: row.idempotency_key,
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
    result: (row.result as Render["result"]) ?? null,
    error: row.status === "succeeded" ? null : row.last_error,
    created_at: iso(row.created_at)!,
    updated_at: iso(row.updated_at)!,
    run_at: iso(row.run_at)!,
  };
}
