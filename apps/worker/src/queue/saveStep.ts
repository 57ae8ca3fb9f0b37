import type { Db } from "../db/db.ts";
import type { StepRow } from "./types.ts";

type StepPatch = Partial<Omit<StepRow, "render_id" | "step" | "updated_at">>;
const COLUMNS = [
  "status", "step_attempt", "backend", "compute_job_id", "idempotency_key", "route_reason",
  "progress", "output", "error", "started_at", "finished_at",
] as const;
const JSON_COLUMNS = new Set(["progress", "output", "error"]);

const TYPES: Record<(typeof COLUMNS)[number], string> = {
  status: "text", step_attempt: "integer", backend: "text", compute_job_id: "text", idempotency_key: "text",
  route_reason: "text", progress: "jsonb", output: "jsonb", error: "jsonb", started_at: "timestamptz", finished_at: "timestamptz",
};

/**
 * Upsert one step's row (status, backend + compute job id, outputs). Written before the
 * worker waits on a compute job, so a restarted worker reattaches instead of resubmitting.
 */
export async function saveStep(db: Pick<Db, "query">, renderId: string, step: StepRow["step"], patch: StepPatch): Promise<StepRow> {
  return (await upsertStep(db, renderId, step, patch, null))!;
}

/**
 * `saveStep` by the worker holding the render's lease; null (nothing written) when
 * `workerId` no longer holds it. A worker whose lease lapsed and was claimed by another
 * must not overwrite the new holder's step rows in the up to one heartbeat before it
 * notices (it could point the step at its own compute job).
 */
export async function saveHeldStep(db: Pick<Db, "query">, renderId: string, workerId: string, step: StepRow["step"], patch: StepPatch): Promise<StepRow | null> {
  return upsertStep(db, renderId, step, patch, workerId);
}

async function upsertStep(db: Pick<Db, "query">, renderId: string, step: StepRow["step"], patch: StepPatch, holder: string | null): Promise<StepRow | null> {
  const cols = COLUMNS.filter((c) => c in patch);
  const values = cols.map((c) => {
    const v = patch[c];
    return JSON_COLUMNS.has(c) && v !== null && v !== undefined ? JSON.stringify(v) : v ?? null;
  });
  const names = cols.join(", ");
  const params = cols.map((c, i) => `$${i + 3}::${TYPES[c]}`).join(", ");
  const updates = [...cols.map((c) => `${c} = excluded.${c}`), "updated_at = now()"].join(", ");
  const held = holder === null ? "" : `where exists (select 1 from public.render_jobs where id = $1 and locked_by = $${cols.length + 3})`;
  const rows = await db.query<StepRow>(
    `insert into public.render_steps (render_id, step${names ? ", " + names : ""})
     select $1::uuid, $2::text${params ? ", " + params : ""} ${held}
     on conflict (render_id, step) do update set ${updates}
     returning *`,
    holder === null ? [renderId, step, ...values] : [renderId, step, ...values, holder],
  );
  return rows[0] ?? null;
}
