import type { Db } from "../db/db.ts";
import type { RenderRow } from "./types.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** One render; with `owner`, only if it belongs to that owner (another owner's id is "not found"). */
export async function getRender(db: Pick<Db, "query">, id: string, owner?: string): Promise<RenderRow | null> {
  if (!UUID.test(id)) return null;
  const rows = owner === undefined
    ? await db.query<RenderRow>(`select * from public.render_jobs where id = $1`, [id])
    : await db.query<RenderRow>(`select * from public.render_jobs where id = $1 and owner = $2`, [id, owner]);
  return rows[0] ?? null;
}
