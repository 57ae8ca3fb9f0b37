import type { Db } from "../db/db.ts";
import type { StepRow } from "./types.ts";

/**
 * Steps of renders that are over whose compute job may still be running (`mayStillRun`:
 * `running`, `submitting` with its id, or `failed` as `compute_unreachable`), left so by a
 * cancel that failed (the compute plane down) or was abandoned at a worker's stop: nothing on
 * the compute plane reaps a job nobody polls, it runs (and bills) to its timeout. Any worker's
 * periodic sweep reads them here (render_steps_may_run_idx, migration 20261123000800).
 */

/** An orphaned step; `expired`: started longer ago than any job can run (given up on, not cancelled). */
export interface OrphanStep extends StepRow {
  expired: boolean;
}

/** The predicate of render_steps_may_run_idx, written the same way so that the planner can use it. */
const MAY_STILL_RUN = `s.compute_job_id is not null
    and (s.status in ('running', 'submitting') or (s.status = 'failed' and (s.error ->> 'code') = 'compute_unreachable'))`;

/**
 * Up to `limit` orphaned steps of renders that ended (failed, dead, cancelled) at least
 * `endedForMs` ago (the ending worker's own cancel has had its go), least recently touched
 * first: a step whose cancel failed is touched (`touchOrphan`) and goes to the back.
 */
export async function orphanedSteps(db: Pick<Db, "query">, opts: { limit: number; endedForMs: number; maxAgeMs: number }): Promise<OrphanStep[]> {
  return db.query<OrphanStep>(
    `select s.*, coalesce(s.started_at, s.updated_at) < now() - make_interval(secs => $3::double precision) as expired
       from public.render_steps s join public.render_jobs j on j.id = s.render_id
      where ${MAY_STILL_RUN} and s.backend is not null
        and j.status in ('failed', 'dead', 'cancelled')
        and coalesce(j.finished_at, j.updated_at) < now() - make_interval(secs => $2::double precision)
      order by s.updated_at, s.render_id, s.step
      limit $1`,
    [opts.limit, opts.endedForMs / 1000, opts.maxAgeMs / 1000],
  );
}

/** Sends a step whose cancel failed to the back of the sweep (if it still points at that job). */
export async function touchOrphan(db: Pick<Db, "query">, s: Pick<StepRow, "render_id" | "step" | "compute_job_id">): Promise<void> {
  await db.query(
    `update public.render_steps s set updated_at = now() where s.render_id = $1 and s.step = $2 and s.compute_job_id = $3 and ${MAY_STILL_RUN}`,
    [s.render_id, s.step, s.compute_job_id],
  );
}

export const ORPHAN_GIVEN_UP = "orphan_cancel_given_up";

/**
 * Takes a step out of the sweep without its cancel: its job started longer ago than any job
 * can run, so it has ended anyway. Marked failed (not cancelled: nobody knows); whether it was
 * (it may have moved on meanwhile).
 */
export async function giveUpOrphan(db: Pick<Db, "query">, s: Pick<StepRow, "render_id" | "step" | "compute_job_id">): Promise<boolean> {
  const error = { code: ORPHAN_GIVEN_UP, message: "the compute job of a render that is over could not be cancelled before it must have ended", retryable: false };
  const rows = await db.query(
    `update public.render_steps s set status = 'failed', error = $4::jsonb, finished_at = now(), updated_at = now()
      where s.render_id = $1 and s.step = $2 and s.compute_job_id = $3 and ${MAY_STILL_RUN}
      returning s.render_id`,
    [s.render_id, s.step, s.compute_job_id, JSON.stringify(error)],
  );
  return rows.length === 1;
}
