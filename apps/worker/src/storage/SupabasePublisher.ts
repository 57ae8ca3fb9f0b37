/**
 * Publishes into Supabase Storage with supabase-js: the artifact (bucket `artifacts`,
 * path sha256/<aa>/<hash>.<ext>) is streamed and hashed to check it, copied server-side
 * to bucket `renders` at <owner>/<id>.<ext>, and a signed URL is created. Storage answers
 * errors as HTTP 400 with the true status in the body's statusCode, mapped as the Python
 * SupabaseStore maps them (`storageError`). The copy is sent with `x-upsert: true`, so a
 * republish replaces the earlier object in one step (never missing in between); a Storage
 * older than copy-with-upsert answers 409 Duplicate, and then the earlier object is removed
 * and copied again. Either way the published video is the one whose sha256 and size are
 * returned. Many keys are signed with Storage's batch
 * endpoint (`POST /object/sign/{bucket}` with {expiresIn, paths}: one request per bucket).
 *
 * Why hash at all rather than trust the content address: the key's digest is only a name
 * chosen by whoever uploaded (the artifact store uploads with x-upsert), and Storage keeps
 * no sha256 of its own: its metadata has a size, a content type (text/plain unless the
 * uploader set one) and an S3 ETag (MD5, or not even that for multipart uploads). So the
 * bytes are read once, as a stream (a chunk at a time, never the whole MP4 in memory),
 * through the service-role download (no signed URL whose JWT could expire mid-publish),
 * bounded by an idle timeout and an overall one, and cut short as soon as they exceed the
 * size the render reported.
 */
import { createHash } from "node:crypto";
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import ws from "ws";
import type { ArtifactRef } from "../contract.ts";
import { contentTypeFor, parseKey, publishedKey, supabaseLocation } from "./keys.ts";
import { PublishError, type Publisher, type SignedUrlResult } from "./publisher.ts";

export interface SupabasePublisherOptions {
  url: string;
  serviceRoleKey: string;
  artifactsBucket?: string;
  rendersBucket?: string;
  expiresInS?: number;
  fetch?: typeof fetch;
  /** Abandon the artifact download when no bytes arrive for this long (ms). Default 30 s. */
  downloadIdleTimeoutMs?: number;
  /** Abandon the artifact download after this long in all (ms). Default 15 min (512 MiB at ~0.6 MB/s). */
  downloadTimeoutMs?: number;
}

/**
 * The status Storage meant: the JSON body's statusCode (real Storage answers errors as HTTP
 * 400 with the true status there), else the HTTP status (a gateway's HTML 502 or 413), else
 * 0: no answer at all (connection refused, DNS, reset: supabase-js's StorageUnknownError).
 */
export function statusOf(error: unknown): number {
  const e = error as { statusCode?: string | number; status?: string | number } | null | undefined;
  for (const v of [e?.statusCode, e?.status]) {
    const n = Number(v);
    if (Number.isInteger(n) && n >= 100 && n <= 599) return n;
  }
  return 0;
}

/**
 * A Storage error as a PublishError, with the Python SupabaseStore's mapping
 * (modal_functions/storage/supabase_store.py, storage_errors): a missing bucket is a
 * configuration error naming its setting; 404 is artifact_not_found; 413 is
 * payload_too_large; everything is non-retryable except no answer (0), 5xx and 429. A wrong
 * service-role key (403), a MIME type the bucket refuses (415) or a bad request will fail
 * the same way on every attempt, so they must not burn the render's attempts with backoff.
 */
export function storageError(what: string, error: unknown, bucket: { name: string; setting: string }): PublishError {
  const status = statusOf(error);
  const e = error as { message?: unknown; error?: unknown } | null | undefined;
  const message = String(e?.message ?? error);
  if (status === 404 && (/bucket not found/i.test(message) || /bucket not found/i.test(String(e?.error ?? "")))) {
    return new PublishError("storage_unavailable", `${what}: Bucket not found: "${bucket.name}" (check ${bucket.setting})`, false);
  }
  if (status === 404) return new PublishError("artifact_not_found", `${what}: not found (${message})`, false);
  if (status === 413) return new PublishError("payload_too_large", `${what}: too large for the bucket (${message})`, false);
  if (status === 0) return new PublishError("storage_unavailable", `${what}: Supabase Storage unreachable (${message})`, true);
  const retryable = status >= 500 || status === 429;
  return new PublishError("storage_unavailable", `${what}: Supabase Storage answered ${status}: ${message}`, retryable);
}

export class SupabasePublisher implements Publisher {
  readonly kind = "supabase" as const;
  private readonly sb: SupabaseClient;
  private readonly buckets: { artifacts: string; renders: string };
  private readonly expiresInS: number;
  private readonly idleTimeoutMs: number;
  private readonly downloadTimeoutMs: number;

  constructor(o: SupabasePublisherOptions) {
    this.sb = createClient(o.url, o.serviceRoleKey, {
      auth: { persistSession: false, autoRefreshToken: false },
      // Node 20 had no global WebSocket (the engines floor); supabase-js builds its realtime client eagerly.
      realtime: { transport: ws as never },
      ...(o.fetch ? { global: { fetch: o.fetch } } : {}),
    });
    this.buckets = { artifacts: o.artifactsBucket ?? "artifacts", renders: o.rendersBucket ?? "renders" };
    this.expiresInS = o.expiresInS ?? 7 * 24 * 3600;
    this.idleTimeoutMs = o.downloadIdleTimeoutMs ?? 30_000;
    this.downloadTimeoutMs = o.downloadTimeoutMs ?? 15 * 60_000;
  }

  /** A bucket's name and the setting that chose it, for the message of a missing bucket. */
  private setting(bucket: string): { name: string; setting: string } {
    return { name: bucket, setting: bucket === this.buckets.artifacts ? "SUPABASE_ARTIFACT_BUCKET" : "SUPABASE_RENDERS_BUCKET" };
  }

  async signedUrl(key: string, expiresInS = this.expiresInS): Promise<string> {
    const loc = supabaseLocation(key, this.buckets);
    const { data, error } = await this.sb.storage.from(loc.bucket).createSignedUrl(loc.path, expiresInS);
    if (error || !data) throw storageError(`signing ${key}`, error ?? "no signed URL in the answer", this.setting(loc.bucket));
    return data.signedUrl;
  }

  /**
   * Signs many keys with one request per bucket (supabase-js createSignedUrls: `POST
   * /object/sign/{bucket}` with {expiresIn, paths}), not one per key. Storage answers 200 with
   * [{path, signedURL, error}] in the order asked: a path it does not find (or may not read) is
   * signedURL null with an error string, so that key is artifact_not_found. A request that
   * fails as a whole (unreachable, wrong key) is that error, mapped as for one key, on each of
   * the bucket's keys; a key outside the grammar is invalid_key without asking.
   */
  async signedUrls(keys: readonly string[], expiresInS = this.expiresInS): Promise<SignedUrlResult[]> {
    const results: SignedUrlResult[] = new Array(keys.length);
    const byBucket = new Map<string, Map<string, number[]>>(); // bucket -> path -> indices of its keys
    keys.forEach((key, i) => {
      let loc: { bucket: string; path: string };
      try {
        loc = supabaseLocation(key, this.buckets);
      } catch (e) {
        results[i] = { key, error: new PublishError("invalid_key", `signing ${JSON.stringify(key)}: ${(e as Error).message}`, false) };
        return;
      }
      const paths = byBucket.get(loc.bucket) ?? new Map<string, number[]>();
      byBucket.set(loc.bucket, paths);
      paths.set(loc.path, [...(paths.get(loc.path) ?? []), i]);
    });
    await Promise.all([...byBucket].map(async ([bucket, paths]) => {
      const asked = [...paths.keys()]; // each path once, however many keys repeat it
      let answer: Awaited<ReturnType<ReturnType<SupabaseClient["storage"]["from"]>["createSignedUrls"]>>;
      try {
        answer = await this.sb.storage.from(bucket).createSignedUrls(asked, expiresInS);
      } catch (e) {
        answer = { data: null, error: e as never }; // supabase-js rethrows what is not a StorageError
      }
      const { data, error } = answer;
      const found = new Map<string, { signedUrl: string | null; error: string | null }>();
      for (const d of data ?? []) if (typeof d?.path === "string") found.set(d.path, d);
      for (const [path, indices] of paths) {
        for (const i of indices) {
          const key = keys[i]!;
          const d = found.get(path);
          if (d?.signedUrl) results[i] = { key, url: d.signedUrl };
          else if (error || !data) results[i] = { key, error: storageError(`signing ${key}`, error ?? "no signed URLs in the answer", this.setting(bucket)) };
          else results[i] = { key, error: new PublishError("artifact_not_found", `signing ${key}: ${d?.error ?? "not in Storage's answer"}`, false) };
        }
      }
    }));
    return results;
  }

  /** One `remove` per bucket; Storage answers a path it does not have with no error. */
  async remove(keys: readonly string[]): Promise<void> {
    const byBucket = new Map<string, string[]>();
    for (const key of keys) {
      const loc = supabaseLocation(key, this.buckets);
      byBucket.set(loc.bucket, [...(byBucket.get(loc.bucket) ?? []), loc.path]);
    }
    for (const [bucket, paths] of byBucket) {
      const { error } = await this.sb.storage.from(bucket).remove(paths);
      if (error) throw storageError(`remove ${paths.join(", ")}`, error, this.setting(bucket));
    }
  }

  async publish(source: ArtifactRef, owner: string, id: string): Promise<ArtifactRef & { url: string }> {
    const parsed = parseKey(source.key);
    if (parsed.kind === "artifacts" && parsed.sha256 !== source.sha256) {
      throw new PublishError("checksum_mismatch", `${source.key} is not the address of sha256 ${source.sha256}`, false);
    }
    const src = supabaseLocation(source.key, this.buckets);
    const { sha256, size } = await this.hashArtifact(source, src);
    if (sha256 !== source.sha256) {
      throw new PublishError("checksum_mismatch", `sha256 of ${source.key} is ${sha256} (${size} bytes), expected ${source.sha256}`, false);
    }
    const key = publishedKey(owner, id, parsed.ext);
    const dest = supabaseLocation(key, this.buckets);
    // x-upsert (storage-api's copyObject reads it, as the Python SupabaseStore sends it): a
    // republish (a re-run render, an attempt that died after its copy) replaces the object in
    // one step. Removing it first left the render's video URL a 404 until the copy landed.
    const copy = async () => (await this.sb.storage.from(src.bucket).setHeader("x-upsert", "true").copy(src.path, dest.path, { destinationBucket: dest.bucket })).error;
    const duplicate = (e: unknown) => statusOf(e) === 409 || /already exists|duplicate/i.test(String((e as { message?: unknown })?.message));
    let cpError = await copy();
    if (cpError && duplicate(cpError)) {
      // A Storage older than copy-with-upsert never overwrites: replace the object by hand, as
      // LocalPublisher (rename) and the Python SupabaseStore do: accepting the 409 would keep
      // an earlier video under the sha256 and size of this one.
      const { error: rmError } = await this.sb.storage.from(dest.bucket).remove([dest.path]);
      if (rmError) throw storageError(`replace ${key}`, rmError, this.setting(dest.bucket));
      cpError = await copy();
      if (cpError && duplicate(cpError)) {
        // Another publish of this render put it back in between: a new attempt replaces it again.
        throw new PublishError("storage_unavailable", `copy to ${key}: replaced concurrently (${cpError.message})`, true);
      }
    }
    if (cpError) throw storageError(`copy to ${key}`, cpError, this.setting(dest.bucket));
    return { key, sha256, size, content_type: contentTypeFor(parsed.ext), url: await this.signedUrl(key) };
  }

  /** sha256 and size of the stored artifact, read as a stream under the two timeouts. */
  private async hashArtifact(source: ArtifactRef, src: { bucket: string; path: string }): Promise<{ sha256: string; size: number }> {
    const abort = new AbortController();
    let reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
    let timedOut: string | null = null;
    const stop = (why: string) => {
      timedOut ??= why;
      abort.abort(new Error(why));
      // fetch errors its body on abort; cancelling the reader also ends a read on any other stream
      reader?.cancel(new Error(why)).catch(() => {});
    };
    const overall = setTimeout(() => stop(`not finished after ${this.downloadTimeoutMs} ms`), this.downloadTimeoutMs);
    let idle: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => stop(`no data for ${this.idleTimeoutMs} ms`), this.idleTimeoutMs);
    };
    const timeoutError = () => new PublishError("storage_unavailable", `download ${source.key}: ${timedOut}`, true);
    try {
      arm(); // the request and its response headers count as idle time too
      const { data: body, error } = await this.sb.storage.from(src.bucket).download(src.path, undefined, { signal: abort.signal }).asStream();
      if (timedOut) throw timeoutError();
      if (error || !body) {
        const mapped = storageError(`download ${source.key}`, error ?? "no body in the answer", this.setting(src.bucket));
        if (mapped.code === "artifact_not_found") throw new PublishError("artifact_not_found", `no artifact at ${source.key}`, false);
        throw mapped;
      }
      reader = (body as ReadableStream<Uint8Array>).getReader();
      const hash = createHash("sha256");
      let size = 0;
      for (;;) {
        arm();
        const { done, value } = await reader.read();
        if (timedOut) throw timeoutError();
        if (done) break;
        size += value.byteLength;
        if (Number.isFinite(source.size) && size > source.size) {
          await reader.cancel().catch(() => {});
          throw new PublishError("checksum_mismatch", `${source.key} is larger than the ${source.size} bytes of its ref`, false);
        }
        hash.update(value);
      }
      return { sha256: hash.digest("hex"), size };
    } catch (e) {
      if (e instanceof PublishError) throw e;
      if (timedOut) throw timeoutError();
      throw new PublishError("storage_unavailable", `download ${source.key}: ${(e as Error)?.message ?? String(e)}`, true);
    } finally {
      clearTimeout(overall);
      clearTimeout(idle);
    }
  }
}
