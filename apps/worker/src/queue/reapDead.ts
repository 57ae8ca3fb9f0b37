import type { Db } from "../db/db.ts";
import { mayRunAgain, published, PUBLISHED_EXTRA_ATTEMPTS } from "./published.ts";

/**
 * Renders whose lease expired after their last allowed attempt go to `dead`: no worker
 * may claim them again (claim skips them: `mayRunAgain`). Returns their ids. One whose video
 * was published is not dead until its PUBLISHED_EXTRA_ATTEMPTS are spent too: claim takes it
 * again, to complete it.
 * `workerId` and `running`: as for `claim`, a worker never declares dead a render it is
 * still running.
 * The message counts attempts out of those the render was allowed: out of max_attempts alone,
 * a published render read "(4/1)", as if it had run past its cap.
 */
export async function reapDead(db: Pick<Db, "query">, workerId = "", running: readonly string[] = []): Promise<string[]> {
  const rows = await db.query<{ id: string }>(
    `update public.render_jobs j
        set status = 'dead', locked_by = null, locked_until = null, finished_at = now(),
            last_error = jsonb_build_object('code', 'lease_expired', 'retryable', false, 'message',
              'lease expired on the last attempt (' || attempts || '/' ||
                case when ${published("j")} then max_attempts + ${PUBLISHED_EXTRA_ATTEMPTS} || ', with its video published'
                     else max_attempts::text end || ')')
      where status = 'running' and locked_until < now() and not ${mayRunAgain("j")}
        and not (locked_by = $1 and id = any($2::uuid[]))
      returning id`,
    [workerId, running],
  );
  return rows.map((r) => r.id);
}
