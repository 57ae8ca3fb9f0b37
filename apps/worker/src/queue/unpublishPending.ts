import type { Db } from "../db/db.ts";

/**
 * Removals of what ended renders published, kept in render_unpublish_pending (migration
 * 20261123000700): the database marks a render that ended without a video with a publish step,
 * and a publish-step write of one that already ended so. Each mark is a new clock_timestamp();
 * a removal clears only the mark it read before removing, so one made while it removed (a late
 * copy) stays for the next sweep. Marks are read as text: a JS Date keeps milliseconds, and a
 * mark cut to them would never match again. A table of its own: a mark on render_jobs would
 * move the ended render's updated_at and send its owner a Realtime event.
 */

/** The render's pending mark (null: none), to clear once what it published is removed. */
export async function unpublishMark(db: Pick<Db, "query">, id: string): Promise<string | null> {
  const rows = await db.query<{ mark: string }>(`select since::text as mark from public.render_unpublish_pending where render_id = $1`, [id]);
  return rows[0]?.mark ?? null;
}

/** Clears the mark if it is still `mark` (not marked again meanwhile); whether it did. */
export async function clearUnpublishMark(db: Pick<Db, "query">, id: string, mark: string): Promise<boolean> {
  const rows = await db.query(
    `delete from public.render_unpublish_pending where render_id = $1 and since = $2::timestamptz returning render_id`,
    [id, mark],
  );
  return rows.length === 1;
}

/**
 * Marks the render pending again (a removal that failed after a sweep had cleared it: a late
 * copy; a failed removal sent to the back of the queue), if it ended without a video and has a
 * publish step; whether it did.
 */
export async function markUnpublishPending(db: Pick<Db, "query">, id: string): Promise<boolean> {
  const rows = await db.query(
    `insert into public.render_unpublish_pending (render_id, since)
     select j.id, clock_timestamp() from public.render_jobs j
      where j.id = $1 and j.status in ('failed', 'dead', 'cancelled')
        and exists (select 1 from public.render_steps s where s.render_id = j.id and s.step = 'publish')
     on conflict (render_id) do update set since = excluded.since
     returning render_id`,
    [id],
  );
  return rows.length === 1;
}

/** Up to `limit` renders with a removal pending, longest pending first (render_unpublish_pending_since_idx). */
export async function pendingUnpublishes(db: Pick<Db, "query">, limit: number): Promise<string[]> {
  const rows = await db.query<{ render_id: string }>(
    `select render_id from public.render_unpublish_pending order by since, render_id limit $1`,
    [limit],
  );
  return rows.map((r) => r.render_id);
}
