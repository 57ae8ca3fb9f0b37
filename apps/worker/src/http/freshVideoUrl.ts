import type { RenderSummary } from "../contract.ts";
import type { Logger } from "../log.ts";
import type { Publisher } from "../storage/publisher.ts";

export interface Resigning {
  /** Without one, the recorded URL is returned. */
  publisher?: Publisher | undefined;
  /** How long a read waits for the publisher before serving the recorded URL (default 5 s). */
  timeoutMs?: number | undefined;
  log: Logger;
}

/**
 * A succeeded render's view with its video URL signed afresh: the URL recorded at publish
 * time expires after SIGNED_URL_TTL_S and nothing else renews it. Signing writes nothing
 * (the row keeps the URL it was published with). Any other view comes back as it is.
 */
export async function withFreshVideoUrl<V extends RenderSummary>(view: V, r: Resigning): Promise<V> {
  const video = view.result?.video;
  if (!r.publisher || view.status !== "succeeded" || !view.result || !video?.key) return view;
  let timer: NodeJS.Timeout | undefined;
  try {
    // Bounded: a storage API that does not answer must not hang every read of the render.
    const url = await Promise.race([
      r.publisher.signedUrl(video.key),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("re-signing timed out")), r.timeoutMs ?? 5000);
      }),
    ]);
    return { ...view, result: { ...view.result, video: { ...video, url } } };
  } catch (e) {
    // The recorded URL (maybe expired) rather than a 500: the render itself is fine.
    r.log.warn({ event: "resign_failed", render_id: view.id, key: video.key, err: String(e) }, "could not re-sign the video URL");
    return view;
  } finally {
    clearTimeout(timer);
  }
}
