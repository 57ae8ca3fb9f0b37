import type { Db } from "../db/db.ts";
import type { StepName } from "./types.ts";

/**
 * Merge one step's progress into render_jobs.progress and set the current step, while
 * this worker holds the render. The row update is what Supabase Realtime streams to the UI.
 */
export async function setProgress(
  db: Pick<Db, "query">,
  id: string,
  workerId: string,
  step: StepName,
  progress: Record<string, unknown>,
): Promise<void> {
  await db.query(
    `update public.render_jobs
        set step = $3, progress = progress || jsonb_build_object($3::text, $4::jsonb)
      where id = $1 and locked_by = $2 and status = 'running'`,
    [id, workerId, step, JSON.stringify(progress)],
  );
}
