import type { Db } from "../db/db.ts";
import { mayRunAgain } from "./published.ts";
import type { RenderRow } from "./types.ts";

/**
 * Claim one ready render in one statement: a queued row whose run_at has come, or a
 * running row whose lease expired (its worker died). SKIP LOCKED lets many workers claim
 * at once without ever taking the same row; the claim bumps attempts and sets the lease.
 *
 * `running` lists the renders this worker is still running: if one of their leases lapsed
 * (heartbeats that could not reach the database), the worker does not take it again as a
 * new attempt; its next heartbeat renews the lease. Another worker cannot tell a stalled
 * holder from a dead one and does reclaim it. Nor does it claim one of them queued again
 * (another worker reclaimed it and that attempt failed): its own attempt's next heartbeat
 * would then succeed, and two attempts of one render would run side by side; that
 * heartbeat finds the lease gone and ends the old attempt first.
 */
export async function claim(
  db: Pick<Db, "query">,
  workerId: string,
  leaseSeconds: number,
  running: readonly string[] = [],
): Promise<RenderRow | null> {
  const rows = await db.query<RenderRow>(
    // One branch per partial index, each read in index order and stopped at its first
    // unlocked row: an OR over both made Postgres collect and sort the whole ready backlog
    // on every claim (41 ms per claim at 100k ready rows; O(n^2) to drain a burst).
    `with queued as (
       select id, run_at, created_at from public.render_jobs q
        where status = 'queued' and run_at <= now() and ${mayRunAgain("q")}
          and not (id = any($3::uuid[]))
        order by run_at, created_at
        limit 1
        for update skip locked
     ), expired as (
       select id, run_at, created_at from public.render_jobs e
        where status = 'running' and locked_until < now() and ${mayRunAgain("e")}
          and not (locked_by = $1 and id = any($3::uuid[]))
        order by locked_until
        limit 1
        for update skip locked
     ), next as (
       select id from (select * from queued union all select * from expired) ready
        order by run_at, created_at
        limit 1
     )
     update public.render_jobs j
        set status = 'running',
            locked_by = $1,
            locked_until = now() + make_interval(secs => $2),
            heartbeat_at = now(),
            attempts = j.attempts + 1, -- a published render's extra runs count too: they are bounded (mayRunAgain)
            last_error = case when j.status = 'running'
                              then jsonb_build_object('code', 'lease_expired', 'message',
                                     'worker ' || coalesce(j.locked_by, '?') || ' stopped heartbeating', 'retryable', true)
                              else j.last_error end
       from next
      where j.id = next.id
      returning j.*`,
    [workerId, leaseSeconds, running],
  );
  return rows[0] ?? null;
}
