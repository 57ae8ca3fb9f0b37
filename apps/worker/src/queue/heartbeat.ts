import type { Db } from "../db/db.ts";
import type { RenderStatus } from "./types.ts";

/**
 * Renew the lease while this worker still holds it. Returns null when the lease is lost
 * (another worker reclaimed it); `cancel` is true when the render was cancelled.
 */
export async function heartbeat(
  db: Pick<Db, "query">,
  id: string,
  workerId: string,
  leaseSeconds: number,
): Promise<{ status: RenderStatus; cancel: boolean } | null> {
  const rows = await db.query<{ status: RenderStatus; cancel: boolean }>(
    `update public.render_jobs
        set locked_until = case when status = 'running' then now() + make_interval(secs => $3) else locked_until end,
            heartbeat_at = now()
      where id = $1 and locked_by = $2
      returning status, (status = 'cancelled' or cancel_requested_at is not null) as cancel`,
    [id, workerId, leaseSeconds],
  );
  return rows[0] ?? null;
}
