/**
 * Publishing: the final MP4 already sits in the artifact store. The publisher checks it
 * is there with the sha256 the render reported, copies it to renders/<owner>/<id>.mp4 and
 * returns it with a signed, expiring URL. One interface, two stores: the local directory
 * (default, shared with the compute plane) and Supabase Storage (supabase-js).
 */
import type { ArtifactRef } from "../contract.ts";

export interface Publisher {
  readonly kind: "local" | "supabase";
  publish(source: ArtifactRef, owner: string, id: string): Promise<ArtifactRef & { url: string }>;
  signedUrl(key: string, expiresInS?: number): Promise<string>;
}

export class PublishError extends Error {
  override readonly name = "PublishError";
  constructor(readonly code: string, message: string, readonly retryable: boolean) {
    super(message);
  }
}
