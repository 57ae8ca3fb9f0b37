import type { Db } from "../db/db.ts";
import type { StepRow } from "./types.ts";

type StepPatch = Partial<Omit<StepRow, "render_id" | "step" | "updated_at">>;
const COLUMNS = [
  "status", "step_attempt", "backend", "compute_job_id", "idempotency_key", "route_reason",
  "progress", "output", "error", "started_at", "finished_at",
] as const;
const JSON_COLUMNS = new Set(["progress", "output", "error"]);

/**
 * Upsert one step's row (status, backend + compute job id, outputs). Written before the
 * worker waits on a compute job, so a restarted worker reattaches instead of resubmitting.
 */
export async function saveStep(db: Pick<Db, "query">, renderId: string, step: StepRow["step"], patch: StepPatch): Promise<StepRow> {
  const cols = COLUMNS.filter((c) => c in patch);
  const values = cols.map((c) => {
    const v = patch[c];
    return JSON_COLUMNS.has(c) && v !== null && v !== undefined ? JSON.stringify(v) : v ?? null;
  });
  const names = cols.join(", ");
  const params = cols.map((c, i) => `$${i + 3}${JSON_COLUMNS.has(c) ? "::jsonb" : ""}`).join(", ");
  const updates = [...cols.map((c) => `${c} = excluded.${c}`), "updated_at = now()"].join(", ");
  const rows = await db.query<StepRow>(
    `insert into public.render_steps (render_id, step${names ? ", " + names : ""})
     values ($1, $2${params ? ", " + params : ""})
     on conflict (render_id, step) do update set ${updates}
     returning *`,
    [renderId, step, ...values],
  );
  return rows[0]!;
}
