/**
 * `GET /v1/renders`: one page of the caller's renders, newest first, as `RenderList`
 * ({data, has_more, next_cursor}; Stripe's has_more with an opaque next cursor, as
 * Trigger.dev's run list). Items are `RenderSummary`: no request (up to 1 MiB each, 100 per
 * page) and no steps; GET /v1/renders/:id has both. Succeeded renders' video URLs are
 * signed afresh in one batch per page.
 */
import type { RenderList, RenderSummary } from "../contract.ts";
import type { Db } from "../db/db.ts";
import { listRenders } from "../queue/index.ts";
import { withFreshVideoUrls, type Resigning } from "./freshVideoUrl.ts";
import { encodeCursor, parseListQuery } from "./listQuery.ts";
import { toRenderSummary } from "./view.ts";

export async function listPage(db: Pick<Db, "query">, owner: string, query: unknown, resigning: Resigning): Promise<RenderList> {
  const q = parseListQuery(query);
  // One row more than the page: whether it exists is has_more, without a count.
  const rows = await listRenders(db, { owner, limit: q.limit + 1, after: q.after, statuses: q.statuses });
  const page = rows.slice(0, q.limit);
  const last = page[page.length - 1];
  const has_more = rows.length > q.limit;
  // The page's video URLs are signed in one batch (one Storage request, not one per render),
  // bounded by the re-signing timeout; a render that cannot be signed keeps its recorded URL.
  const data: RenderSummary[] = await withFreshVideoUrls(page.map(toRenderSummary), resigning);
  return { data, has_more, next_cursor: has_more && last ? encodeCursor({ createdAt: last.position, id: last.id }) : null };
}
