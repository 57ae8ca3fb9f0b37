import type { Db } from "../db/db.ts";
import type { RenderRow } from "./types.ts";

/**
 * Cancel an owner's render. A queued render is cancelled at once; a running one is marked
 * cancelled too, and its worker sees that on its next heartbeat and cancels the compute
 * jobs. Terminal renders are returned unchanged. Null when the owner has no such render.
 *
 * Two statements, not one: an update that waited for a worker's complete/fail to commit
 * finds the render ended and changes nothing, and a read in that same statement would see
 * the snapshot taken before the wait (the render still `running`). A new statement reads
 * how it really ended.
 */
export async function cancel(db: Pick<Db, "query">, id: string, owner: string): Promise<RenderRow | null> {
  const updated = await db.query<RenderRow>(
    `update public.render_jobs
        set status = 'cancelled', cancel_requested_at = now(), finished_at = now(),
            last_error = jsonb_build_object('code', 'cancelled', 'message', 'cancelled by its owner', 'retryable', false)
      where id = $1 and owner = $2 and status in ('queued', 'running')
      returning *`,
    [id, owner],
  );
  if (updated[0]) return updated[0];
  const rows = await db.query<RenderRow>(`select * from public.render_jobs where id = $1 and owner = $2`, [id, owner]);
  return rows[0] ?? null;
}
