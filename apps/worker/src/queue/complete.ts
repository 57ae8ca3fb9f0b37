import type { Db } from "../db/db.ts";

/** Mark a render succeeded with its result, only while this worker holds it. */
export async function complete(db: Pick<Db, "query">, id: string, workerId: string, result: unknown): Promise<boolean> {
  const rows = await db.query(
    `update public.render_jobs
        set status = 'succeeded', result = $3::jsonb, step = null, last_error = null,
            locked_by = null, locked_until = null, finished_at = now()
      where id = $1 and locked_by = $2 and status = 'running'
      returning id`,
    [id, workerId, JSON.stringify(result)],
  );
  return rows.length === 1;
}

/**
 * Whether a render is succeeded with exactly this result: the `complete` that answered
 * nothing (its commit's reply was lost, then the retry found the render no longer running)
 * was this worker's own. Another holder's success has its own signed URLs, so its result differs.
 */
export async function completedWith(db: Pick<Db, "query">, id: string, result: unknown): Promise<boolean> {
  const rows = await db.query(`select 1 from public.render_jobs where id = $1 and status = 'succeeded' and result = $2::jsonb`, [id, JSON.stringify(result)]);
  return rows.length === 1;
}
