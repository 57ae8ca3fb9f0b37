import type { Db } from "../db/db.ts";
import type { RenderRow } from "./types.ts";

/**
 * Claim one ready render in one statement: a queued row whose run_at has come, or a
 * running row whose lease expired (its worker died). SKIP LOCKED lets many workers claim
 * at once without ever taking the same row; the claim bumps attempts and sets the lease.
 */
export async function claim(db: Pick<Db, "query">, workerId: string, leaseSeconds: number): Promise<RenderRow | null> {
  const rows = await db.query<RenderRow>(
    `with next as (
       select id from public.render_jobs
        where attempts < max_attempts
          and ((status = 'queued' and run_at <= now())
               or (status = 'running' and locked_until < now()))
        order by run_at, created_at
        limit 1
        for update skip locked
     )
     update public.render_jobs j
        set status = 'running',
            locked_by = $1,
            locked_until = now() + make_interval(secs => $2),
            heartbeat_at = now(),
            attempts = j.attempts + 1,
            last_error = case when j.status = 'running'
                              then jsonb_build_object('code', 'lease_expired', 'message',
                                     'worker ' || coalesce(j.locked_by, '?') || ' stopped heartbeating', 'retryable', true)
                              else j.last_error end
       from next
      where j.id = next.id
      returning j.*`,
    [workerId, leaseSeconds],
  );
  return rows[0] ?? null;
}
