/**
 * Publishes into Supabase Storage with supabase-js: the artifact (bucket `artifacts`,
 * path sha256/<aa>/<hash>.<ext>) is downloaded and hashed to check it, copied server-side
 * to bucket `renders` at <owner>/<id>.<ext>, and a signed URL is created. Storage answers
 * errors as HTTP 400 with the true status in the body's statusCode; a copy onto an
 * existing object (a republish of the same render) is accepted.
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

  constructor(o: SupabasePublisherOptions) {
    this.sb = createClient(o.url, o.serviceRoleKey, {
      auth: { persistSession: false, autoRefreshToken: false },
      // Node 20 has no global WebSocket; supabase-js builds its realtime client eagerly.
      realtime: { transport: ws as never },
      ...(o.fetch ? { global: { fetch: o.fetch } } : {}),
    });
    this.buckets = { artifacts: o.artifactsBucket ?? "artifacts", renders: o.rendersBucket ?? "renders" };
    this.expiresInS = o.expiresInS ?? 7 * 24 * 3600;
  }

  async signedUrl(key: string, expiresInS = this.expiresInS): Promise<string> {
    const loc = supabaseLocation(key, this.buckets);
    const { data, error } = await this.sb.storage.from(loc.bucket).createSignedUrl(loc.path, expiresInS);
    if (error || !data) throw new PublishError("storage_unavailable", `signing ${key}: ${error?.message}`, true);
    return data.signedUrl;
  }

  async publish(source: ArtifactRef, owner: string, id: string): Promise<ArtifactRef & { url: string }> {
    const parsed = parseKey(source.key);
    const src = supabaseLocation(source.key, this.buckets);
    const { data: blob, error: dlError } = await this.sb.storage.from(src.bucket).download(src.path);
    if (dlError || !blob) {
      const status = statusOf(dlError);
      if (status === 404 || /not.?found/i.test(String(dlError?.message))) {
        throw new PublishError("artifact_not_found", `no artifact at ${source.key}`, false);
      }
      throw new PublishError("storage_unavailable", `download ${source.key}: ${dlError?.message}`, true);
    }
    const bytes = Buffer.from(await blob.arrayBuffer());
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    if (sha256 !== source.sha256) {
      throw new PublishError("checksum_mismatch", `sha256 of ${source.key} is ${sha256}, expected ${source.sha256}`, false);
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
    return { key, sha256, size: bytes.length, content_type: contentTypeFor(parsed.ext), url: await this.signedUrl(key) };
  }
}
