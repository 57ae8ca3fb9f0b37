import type { Db } from "../db/db.ts";

/**
 * Removals of what ended renders published, kept in render_jobs.unpublish_pending_since
 * (migration 20261123000700): the database marks a render that ended without a video with a
 * publish step, and a publish-step write of one that already ended so. Each mark is a new
 * clock_timestamp(); a removal clears only the mark it read before removing, so one made while
 * it removed (a late copy) stays for the next sweep. Marks are read as text: a JS Date keeps
 * milliseconds, and a mark cut to them would never match again.
 */

/** The render's pending mark (null: none), to clear once what it published is removed. */
export async function unpublishMark(db: Pick<Db, "query">, id: string): Promise<string | null> {
  const rows = await db.query<{ mark: string | null }>(`select unpublish_pending_since::text as mark from public.render_jobs where id = $1`, [id]);
  return rows[0]?.mark ?? null;
}

/** Clears the mark if it is still `mark` (not marked again meanwhile); whether it did. */
export async function clearUnpublishMark(db: Pick<Db, "query">, id: string, mark: string): Promise<boolean> {
  const rows = await db.query(
    `update public.render_jobs set unpublish_pending_since = null
      where id = $1 and unpublish_pending_since = $2::timestamptz
      returning id`,
    [id, mark],
  );
  return rows.length === 1;
}

/**
 * Marks the render pending again (a removal that failed after a sweep had cleared it: a late
 * copy), if it ended without a video and has a publish step; whether it did.
 */
export async function markUnpublishPending(db: Pick<Db, "query">, id: string): Promise<boolean> {
  const rows = await db.query(
    `update public.render_jobs j set unpublish_pending_since = clock_timestamp()
      where j.id = $1 and j.status in ('failed', 'dead', 'cancelled')
        and exists (select 1 from public.render_steps s where s.render_id = j.id and s.step = 'publish')
      returning j.id`,
    [id],
  );
  return rows.length === 1;
}

/** Up to `limit` renders with a removal pending, longest pending first (render_jobs_unpublish_pending_idx). */
export async function pendingUnpublishes(db: Pick<Db, "query">, limit: number): Promise<string[]> {
  const rows = await db.query<{ id: string }>(
    `select id from public.render_jobs
      where unpublish_pending_since is not null
      order by unpublish_pending_since, created_at
      limit $1`,
    [limit],
  );
  return rows.map((r) => r.id);
}
