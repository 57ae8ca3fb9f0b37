import { clearUnpublishMark, getRender, listSteps, retryStatement, unpublishMark, type RenderStatus, type StepRow } from "../queue/index.ts";
import { publishedKey } from "../storage/keys.ts";
import type { PipelineDeps } from "./types.ts";

/** A render in one of these ended without a video, for good: none of them is ever run again. */
export const ENDED_WITHOUT_VIDEO: readonly RenderStatus[] = ["failed", "dead", "cancelled"];

/**
 * Every key the publish step may have written for a render: renders/<owner>/<id>.<ext> of
 * the rendered video and of the caption files, and whatever the publish step recorded.
 */
function publishableKeys(owner: string, id: string, steps: StepRow[]): string[] {
  const rendered = steps.find((s) => s.step === "render")?.output as { video?: { key?: unknown } } | null | undefined;
  const videoExt = typeof rendered?.video?.key === "string" ? rendered.video.key.split(".").pop()! : "mp4";
  const recorded = steps.find((s) => s.step === "publish")?.output as { key?: unknown; subtitles?: { srt?: { key?: unknown }; vtt?: { key?: unknown } } } | null | undefined;
  const keys = new Set([videoExt, "mp4", "srt", "vtt"].map((ext) => publishedKey(owner, id, ext)));
  for (const k of [recorded?.key, recorded?.subtitles?.srt?.key, recorded?.subtitles?.vtt?.key]) if (typeof k === "string") keys.add(k);
  return [...keys];
}

/**
 * Removes what a render published under its owner's name if the render ended without a video
 * (failed, dead, cancelled): the owner must not keep, nor pay storage for, an MP4 of a render
 * that says it has none. Safe anywhere, any time: it reads the render first and removes only
 * when it ended so, and those statuses are final, so nothing removed is published again by a
 * later attempt. Every path that ends a render so calls it after, and every attempt that
 * copied something and then did not complete calls it too, so a copy landing after the render
 * ended (a stale attempt's) is removed by that attempt. Answers the render's status (null: no
 * such render), the keys removed (none unless it ended without a video) and, when storage
 * refused the removal, its error (the status is still known: a cancelled render is still
 * reported cancelled). Reads are retried (a blip must not leave the MP4 for good); a read
 * that still fails is thrown.
 *
 * The render's pending mark (render_unpublish_pending, set by the database when it
 * ended so: `queue/unpublishPending.ts`) is read first and cleared once the removal went
 * through, only if it is still that mark: a mark made meanwhile (a stale attempt's late copy)
 * leaves the render to the next sweep. A removal that failed keeps it marked, for any worker's
 * sweep to try again, even after this process is gone.
 */
export async function unpublishEnded(deps: Pick<PipelineDeps, "db" | "publisher">, renderId: string): Promise<{ status: RenderStatus | null; removed: string[]; error?: unknown }> {
  const mark = await retryStatement(() => unpublishMark(deps.db, renderId));
  const render = await retryStatement(() => getRender(deps.db, renderId));
  if (!render || !ENDED_WITHOUT_VIDEO.includes(render.status)) return { status: render?.status ?? null, removed: [] };
  const steps = await retryStatement(() => listSteps(deps.db, renderId));
  // Not cleared, the render is only swept again (and removing what is gone is harmless).
  const done = async () => void (mark !== null && await retryStatement(() => clearUnpublishMark(deps.db, renderId, mark)).catch(() => false));
  // No copy starts before the publish step's row is written (by the lease holder): without
  // one, nothing was published, and storage is not asked.
  if (!steps.some((s) => s.step === "publish")) {
    await done();
    return { status: render.status, removed: [] };
  }
  const keys = publishableKeys(render.owner, render.id, steps);
  try {
    await deps.publisher.remove(keys);
  } catch (error) {
    return { status: render.status, removed: [], error };
  }
  await done();
  return { status: render.status, removed: keys };
}
