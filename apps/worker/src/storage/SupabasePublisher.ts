/**
 * Publishes into Supabase Storage with supabase-js: the artifact (bucket `artifacts`,
 * path sha256/<aa>/<hash>.<ext>) is streamed and hashed to check it, copied server-side
 * to bucket `renders` at <owner>/<id>.<ext>, and a signed URL is created. Storage answers
 * errors as HTTP 400 with the true status in the body's statusCode; a copy onto an
 * existing object (a republish of the same render) is accepted.
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
import { PublishError, type Publisher } from "./publisher.ts";

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

function statusOf(error: unknown): number {
  const e = error as { statusCode?: string | number; status?: number; originalError?: { status?: number } };
  return Number(e?.statusCode ?? e?.status ?? e?.originalError?.status ?? 0);
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
      // Node 20 has no global WebSocket; supabase-js builds its realtime client eagerly.
      realtime: { transport: ws as never },
      ...(o.fetch ? { global: { fetch: o.fetch } } : {}),
    });
    this.buckets = { artifacts: o.artifactsBucket ?? "artifacts", renders: o.rendersBucket ?? "renders" };
    this.expiresInS = o.expiresInS ?? 7 * 24 * 3600;
    this.idleTimeoutMs = o.downloadIdleTimeoutMs ?? 30_000;
    this.downloadTimeoutMs = o.downloadTimeoutMs ?? 15 * 60_000;
  }

  async signedUrl(key: string, expiresInS = this.expiresInS): Promise<string> {
    const loc = supabaseLocation(key, this.buckets);
    const { data, error } = await this.sb.storage.from(loc.bucket).createSignedUrl(loc.path, expiresInS);
    if (error || !data) throw new PublishError("storage_unavailable", `signing ${key}: ${error?.message}`, true);
    return data.signedUrl;
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
    const { error: cpError } = await this.sb.storage
      .from(src.bucket)
      .copy(src.path, dest.path, { destinationBucket: dest.bucket });
    if (cpError) {
      const status = statusOf(cpError);
      const duplicate = status === 409 || /already exists|duplicate/i.test(String(cpError.message));
      if (!duplicate) throw new PublishError("storage_unavailable", `copy to ${key}: ${cpError.message}`, true);
    }
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
        const status = statusOf(error);
        if (status === 404 || /not.?found/i.test(String(error?.message))) {
          throw new PublishError("artifact_not_found", `no artifact at ${source.key}`, false);
        }
        throw new PublishError("storage_unavailable", `download ${source.key}: ${error?.message}`, true);
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
