import type { Db } from "../db/db.ts";
import type { RenderRow } from "./types.ts";

/**
 * Insert a render, or return the existing one for the same (owner, idempotency key):
 * a duplicate key gives one render. `created` tells which.
 */
export async function enqueue(
  db: Pick<Db, "query">,
  args: { owner: string; request: unknown; idempotencyKey?: string | null; maxAttempts?: number },
): Promise<{ row: RenderRow; created: boolean }> {
  const rows = await db.query<RenderRow & { created: boolean }>(
    `with ins as (
       insert into public.render_jobs (owner, idempotency_key, request, max_attempts)
       values ($1, $2, $3::jsonb, $4)
       on conflict (owner, idempotency_key) do nothing
       returning *, true as created
     )
     select * from ins
     union all
     select j.*, false as created from public.render_jobs j
      where j.owner = $1 and j.idempotency_key = $2 and not exists (select 1 from ins)`,
    [args.owner, args.idempotencyKey ?? null, JSON.stringify(args.request), args.maxAttempts ?? 5],
  );
  let row = rows[0];
  if (!row && args.idempotencyKey != null) {
    // Lost a race with a concurrent insert of the same key: that row committed after this
    // statement's snapshot; a new statement sees it.
    row = (await db.query<RenderRow & { created: boolean }>(
      `select j.*, false as created from public.render_jobs j where j.owner = $1 and j.idempotency_key = $2`,
      [args.owner, args.idempotencyKey],
    ))[0];
  }
  if (!row) throw new Error("enqueue returned no row");
  const { created, ...rest } = row;
  return { row: rest as RenderRow, created };
}
