import type { Db } from "../db/db.ts";

/**
 * Give a render back on graceful shutdown: queued again at once, its lease dropped and the
 * attempt it was on refunded (a deploy is not a failure). Only while this worker holds it.
 */
export async function release(db: Pick<Db, "query">, id: string, workerId: string): Promise<boolean> {
  const rows = await db.query(
    `update public.render_jobs
        set status = 'queued', locked_by = null, locked_until = null, run_at = now(),
            attempts = greatest(attempts - 1, 0)
      where id = $1 and locked_by = $2 and status = 'running'
      returning id`,
    [id, workerId],
  );
  return rows.length === 1;
}
