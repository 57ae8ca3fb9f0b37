/**
 * Publishing: the final MP4 already sits in the artifact store. The publisher checks it
 * is there with the sha256 the render reported, copies it to renders/<owner>/<id>.mp4 and
 * returns it with a signed, expiring URL. One interface, two stores: the local directory
 * (default, shared with the compute plane) and Supabase Storage (supabase-js).
 */
import type { ArtifactRef } from "../contract.ts";

/** One key's outcome in a batch signing: its URL, or why it could not be signed. */
export type SignedUrlResult = { key: string; url: string; error?: undefined } | { key: string; url?: undefined; error: PublishError };

export interface Publisher {
  readonly kind: "local" | "supabase";
  publish(source: ArtifactRef, owner: string, id: string): Promise<ArtifactRef & { url: string }>;
  signedUrl(key: string, expiresInS?: number): Promise<string>;
  /**
   * Signs many keys at once (Supabase: one request per bucket, not one per key). Answers one
   * result per key, in the order given; a key that cannot be signed (no such object, an
   * invalid key) is a result with an error, not a rejection; so is each key of a request that
   * failed as a whole (storage unreachable, refused credentials). A rejection is a failure
   * outside any key's (no signing secret). Callers fall back per key.
   */
  signedUrls(keys: readonly string[], expiresInS?: number): Promise<SignedUrlResult[]>;
  /** Removes published objects (renders/...): a render cancelled while it was published keeps none. A key not there is no error. */
  remove(keys: readonly string[]): Promise<void>;
}

export class PublishError extends Error {
  override readonly name = "PublishError";
  constructor(readonly code: string, message: string, readonly retryable: boolean) {
    super(message);
  }
}
