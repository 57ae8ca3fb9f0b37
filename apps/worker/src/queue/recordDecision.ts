import type { Db } from "../db/db.ts";
import type { BackendName } from "./types.ts";

/** Keep one routing decision (backend + reason) for a render's step. */
export async function recordDecision(
  db: Pick<Db, "query">,
  renderId: string,
  step: string,
  backend: BackendName,
  reason: string,
): Promise<void> {
  await db.query(
    `insert into public.route_decisions (render_id, step, backend, reason) values ($1, $2, $3, $4)`,
    [renderId, step, backend, reason],
  );
}
