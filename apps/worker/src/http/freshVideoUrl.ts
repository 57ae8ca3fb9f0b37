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

type Result = NonNullable<RenderSummary["result"]>;

/** The keys a succeeded render published: its video, then its caption files (if any). */
function publishedKeys(view: RenderSummary): string[] {
  if (view.status !== "succeeded" || !view.result?.video?.key) return [];
  const subtitles = view.result.subtitles;
  return [view.result.video.key, ...(subtitles ? [subtitles.srt.key, subtitles.vtt.key] : [])];
}

/** The result with each published file's URL taken from `urls` (by key); a key not there keeps its URL. */
function resigned(result: Result, urls: ReadonlyMap<string, string>): Result {
  const sign = <R extends { key: string; url?: string | null }>(ref: R): R => {
    const url = urls.get(ref.key);
    return url === undefined ? ref : { ...ref, url };
  };
  const subtitles = result.subtitles ? { subtitles: { srt: sign(result.subtitles.srt), vtt: sign(result.subtitles.vtt) } } : {};
  return { ...result, video: sign(result.video), ...subtitles };
}

/** `signedUrls(keys)`, bounded: a storage API that does not answer must not hang a read. */
async function signBounded(r: Resigning & { publisher: Publisher }, keys: string[]): Promise<SignedUrlResult[]> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const signed = await Promise.race([
      r.publisher.signedUrls(keys),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("re-signing timed out")), r.timeoutMs ?? 5000);
      }),
    ]);
    if (signed.length !== keys.length) throw new Error(`${signed.length} signed URLs for ${keys.length} keys`);
    return signed;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A page of views with each succeeded render's published files re-signed in one batch (the
 * publisher's `signedUrls`: one Storage request, not one per file), bounded by `timeoutMs`. A file whose key could not
 * be signed, or every file when the batch fails or times out, keeps its recorded URL (maybe
 * expired) rather than failing the read: the render itself is fine. One log line per
 * distinct failure, naming its renders: a storage outage is one line, not 100.
 */
export async function withFreshVideoUrls<V extends RenderSummary>(views: readonly V[], r: Resigning): Promise<V[]> {
  const owners = views.flatMap((view) => publishedKeys(view).map((key) => ({ id: view.id, key })));
  if (!r.publisher || owners.length === 0) return [...views];
  let signed: SignedUrlResult[];
  try {
    signed = await signBounded({ ...r, publisher: r.publisher }, owners.map((o) => o.key));
  } catch (e) {
    r.log.warn({ event: "resign_failed", render_ids: [...new Set(owners.map((o) => o.id))], err: String(e) }, "could not re-sign the published files' URLs; serving the recorded ones");
    return [...views];
  }
  const urls = new Map<string, string>();
  const failures = new Map<string, Set<string>>();
  signed.forEach((s, i) => {
    const { id, key } = owners[i]!;
    if (s.url !== undefined && s.key === key) {
      urls.set(key, s.url);
      return;
    }
    const why = s.error ? `${s.error.code}: ${s.error.message}` : `signed ${s.key} for ${key}`;
    failures.set(why, (failures.get(why) ?? new Set()).add(id));
  });
  for (const [err, ids] of failures) {
    r.log.warn({ event: "resign_failed", render_ids: [...ids], err }, "could not re-sign some published files' URLs; serving the recorded ones");
  }
  return views.map((view) => (publishedKeys(view).length ? { ...view, result: resigned(view.result!, urls) } : view));
}

/**
 * A succeeded render's view with the URLs of its video and caption files signed afresh: the
 * URLs recorded at publish time expire after SIGNED_URL_TTL_S and nothing else renews them.
 * Signing writes nothing (the row keeps the URLs it was published with). Any other view
 * comes back as it is.
 */
export async function withFreshVideoUrl<V extends RenderSummary>(view: V, r: Resigning): Promise<V> {
  return (await withFreshVideoUrls([view], r))[0]!;
}
