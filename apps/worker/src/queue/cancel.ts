import type { Db } from "../db/db.ts";
import type { RenderRow } from "./types.ts";

/**
 * Cancel an owner's render. A queued render is cancelled at once; a running one is marked
 * cancelled too, and its worker sees that on its next heartbeat and cancels the compute
 * jobs. Terminal renders are returned unchanged. Null when the owner has no such render.
 */
export async function cancel(db: Pick<Db, "query">, id: string, owner: string): Promise<RenderRow | null> {
  const rows = await db.query<RenderRow>(
    `with target as (
       select id from public.render_jobs where id = $1 and owner = $2
     ), upd as (
       update public.render_jobs j
          set status = 'cancelled', cancel_requested_at = now(), finished_at = now(),
              last_error = jsonb_build_object('code', 'cancelled', 'message', 'cancelled by its owner', 'retryable', false)
         from target
        where j.id = target.id and j.status in ('queued', 'running')
        returning j.*
     )
     select * from upd
     union all
     select j.* from public.render_jobs j join target on j.id = target.id where not exists (select 1 from upd)`,
    [id, owner],
  );
  return rows[0] ?? null;
}
