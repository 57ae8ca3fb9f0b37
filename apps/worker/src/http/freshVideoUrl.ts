import type { RenderSummary } from "../contract.ts";
import type { Logger } from "../log.ts";
import type { Publisher, SignedUrlResult } from "../storage/publisher.ts";

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

/**
 * A page of views with each succeeded render's video URL signed afresh, in one batch (the
 * publisher's `signedUrls`: one Storage request for the page, not one per render), bounded by
 * the same timeout as a single read. Any render whose key could not be signed, or the whole
 * page when the batch fails or times out, keeps its recorded URL.
 */
export async function withFreshVideoUrls<V extends RenderSummary>(views: readonly V[], r: Resigning): Promise<V[]> {
  const signable = (view: V) => r.publisher && view.status === "succeeded" && view.result && view.result.video?.key ? view.result.video.key : null;
  const keys = views.map(signable).filter((k): k is string => k !== null);
  if (!r.publisher || keys.length === 0) return [...views];
  let timer: NodeJS.Timeout | undefined;
  let signed: SignedUrlResult[];
  try {
    signed = await Promise.race([
      r.publisher.signedUrls(keys),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("re-signing timed out")), r.timeoutMs ?? 5000);
      }),
    ]);
    if (signed.length !== keys.length) throw new Error(`${signed.length} signed URLs for ${keys.length} keys`);
  } catch (e) {
    r.log.warn({ event: "resign_failed", renders: keys.length, err: String(e) }, "could not re-sign the page's video URLs");
    return [...views];
  } finally {
    clearTimeout(timer);
  }
  // One log line per distinct failure, naming its renders: a storage outage is one line, not 100.
  const failures = new Map<string, string[]>();
  let next = 0;
  const out = views.map((view) => {
    if (signable(view) === null) return view;
    const s = signed[next++]!;
    if (s.url !== undefined && s.key === view.result!.video!.key) {
      return { ...view, result: { ...view.result!, video: { ...view.result!.video!, url: s.url } } };
    }
    const why = s.error ? `${s.error.code}: ${s.error.message}` : `signed ${s.key} for ${view.result!.video!.key}`;
    failures.set(why, [...(failures.get(why) ?? []), view.id]);
    return view;
  });
  for (const [err, ids] of failures) {
    r.log.warn({ event: "resign_failed", render_ids: ids, err }, "could not re-sign video URLs; serving the recorded ones");
  }
  return out;
}
