import type { Db } from "../db/db.ts";
import type { RenderRow, RenderStatus } from "./types.ts";

/** What a list item needs of a row: no request (up to 1 MiB each) but its title. */
export type RenderListRow = Omit<RenderRow, "request" | "progress" | "locked_by" | "locked_until" | "heartbeat_at" | "cancel_requested_at"> & {
  title: string | null;
  /** created_at to the microsecond, as text: a JS Date keeps milliseconds, and a cursor cut to them would skip or repeat rows. */
  position: string;
};

/** A place in the newest-first order: strictly after the row with this created_at and id. */
export interface ListPosition {
  createdAt: string;
  id: string;
}

/**
 * One page of an owner's renders, newest first, by keyset on (created_at, id): rows inserted
 * while a client pages are either before its position (not seen) or after it (seen once),
 * never shifting the pages as an offset would. Served in order by render_jobs_owner_list_idx.
 */
export async function listRenders(
  db: Pick<Db, "query">,
  args: { owner: string; limit: number; after?: ListPosition | null; statuses?: readonly RenderStatus[] | null },
): Promise<RenderListRow[]> {
  const params: unknown[] = [args.owner];
  const where = ["owner = $1"];
  if (args.after) {
    params.push(args.after.createdAt, args.after.id);
    where.push(`(created_at, id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
  }
  if (args.statuses?.length) {
    params.push(args.statuses);
    where.push(`status = any($${params.length}::text[])`);
  }
  params.push(args.limit);
  return db.query<RenderListRow>(
    `select id, owner, idempotency_key, case when jsonb_typeof(request->'title') = 'string' then request->>'title' end as title, status, step, attempts, max_attempts,
            run_at, last_error, result, created_at, updated_at, finished_at,
            to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as position
       from public.render_jobs
      where ${where.join(" and ")}
      order by created_at desc, id desc
      limit $${params.length}`,
    params,
  );
}
