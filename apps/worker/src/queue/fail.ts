import type { Db } from "../db/db.ts";
import type { JobError } from "../contract.ts";
import { mayRunAgain } from "./published.ts";
import type { RenderStatus } from "./types.ts";

/**
 * Record a failed attempt. Retryable errors go back to `queued` with backoff computed in
 * SQL: run_at = now() + base * exp(least(attempts, 10)) * spread seconds (graphile-worker's
 * curve, scaled by `backoffBaseSeconds`, jittered by `spread`). Out of attempts -> `dead`,
 * but a render whose video is published has PUBLISHED_EXTRA_ATTEMPTS more (`mayRunAgain`:
 * only its completion failed, so it is queued to be completed); not retryable -> `failed`.
 * The error is kept in last_error either way.
 */
export async function fail(
  db: Pick<Db, "query">,
  id: string,
  workerId: string,
  error: JobError,
  backoffBaseSeconds: number,
  /** Multiplies the delay: the worker's jitter (0.75..1.25), so renders that failed together do not retry together. */
  spread = 1,
): Promise<RenderStatus | null> {
  const rows = await db.query<{ status: RenderStatus }>(
    `update public.render_jobs j
        set status = case when not $4::boolean then 'failed'
                          when not ${mayRunAgain("j")} then 'dead'
                          else 'queued' end,
            run_at = now() + make_interval(secs => $5 * exp(least(attempts, 10)) * $6),
            last_error = $3::jsonb,
            locked_by = null, locked_until = null,
            finished_at = case when $4::boolean and ${mayRunAgain("j")} then null else now() end
      where id = $1 and locked_by = $2 and status = 'running'
      returning status`,
    [id, workerId, JSON.stringify(error), error.retryable === true, backoffBaseSeconds, spread],
  );
  return rows[0]?.status ?? null;
}

/**
 * What a `fail` that answered nothing (its commit's reply was lost, then the retry found the
 * render no longer running) recorded: the render's status if it is as that statement left
 * it (unheld, with this error), else null.
 */
export async function failedWith(db: Pick<Db, "query">, id: string, error: JobError): Promise<RenderStatus | null> {
  const rows = await db.query<{ status: RenderStatus }>(
    `select status from public.render_jobs
      where id = $1 and locked_by is null and status in ('queued', 'failed', 'dead') and last_error = $2::jsonb`,
    [id, JSON.stringify(error)],
  );
  return rows[0]?.status ?? null;
}
