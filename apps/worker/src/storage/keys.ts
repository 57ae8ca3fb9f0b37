/**
 * Artifact keys, the same grammar as modal_functions/storage/keys.py (checked against
 * packages/shared-types/vectors): `artifacts/sha256/<aa>/<sha256>.<ext>` and
 * `renders/<owner>/<id>.<ext>`. Anything else is `invalid_key`.
 */
export const ARTIFACT_KEY_RE = /^artifacts\/sha256\/([0-9a-f]{2})\/([0-9a-f]{64})\.([a-z0-9]{1,8})$/;
export const RENDER_KEY_RE = /^renders\/([A-Za-z0-9_-]{1,128})\/([A-Za-z0-9_-]{1,128})\.([a-z0-9]{1,8})$/;
const NAME_RE = /^[A-Za-z0-9_-]{1,128}$/;
const EXT_RE = /^[a-z0-9]{1,8}$/;

export class InvalidKeyError extends Error {
  override readonly name = "InvalidKeyError";
  readonly code = "invalid_key";
  /** A key that breaks the grammar breaks it on every attempt: retrying only ends in `dead`. */
  readonly retryable = false;
}

export const CONTENT_TYPES: Record<string, string> = {
  mp4: "video/mp4", m4v: "video/mp4", webm: "video/webm", mov: "video/quicktime", mkv: "video/x-matroska", ts: "video/mp2t",
  png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", webp: "image/webp", gif: "image/gif", avif: "image/avif", svg: "image/svg+xml",
  wav: "audio/wav", mp3: "audio/mpeg", m4a: "audio/mp4", aac: "audio/aac", ogg: "audio/ogg", opus: "audio/ogg", flac: "audio/flac",
  srt: "application/x-subrip", vtt: "text/vtt", json: "application/json", txt: "text/plain; charset=utf-8",
  zip: "application/zip", bin: "application/octet-stream",
};

export function normalizeExt(ext: string): string {
  const e = (ext.startsWith(".") ? ext.slice(1) : ext).toLowerCase();
  if (!EXT_RE.test(e)) throw new InvalidKeyError(`invalid extension ${JSON.stringify(ext)}: expected [a-z0-9]{1,8}`);
  return e;
}

export function contentTypeFor(ext: string): string {
  return CONTENT_TYPES[ext.toLowerCase().replace(/^\./, "")] ?? "application/octet-stream";
}

export function artifactKey(sha256: string, ext: string): string {
  const d = sha256.toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(d)) throw new InvalidKeyError("sha256 must be 64 hex characters");
  return `artifacts/sha256/${d.slice(0, 2)}/${d}.${normalizeExt(ext)}`;
}

export function publishedKey(owner: string, id: string, ext: string): string {
  if (!NAME_RE.test(owner)) throw new InvalidKeyError(`invalid owner ${JSON.stringify(owner)}`);
  if (!NAME_RE.test(id)) throw new InvalidKeyError(`invalid id ${JSON.stringify(id)}`);
  return `renders/${owner}/${id}.${normalizeExt(ext)}`;
}

export type ParsedKey =
  | { kind: "artifacts"; key: string; sha256: string; ext: string }
  | { kind: "renders"; key: string; owner: string; id: string; ext: string };

export function parseKey(key: string): ParsedKey {
  if (typeof key !== "string" || key.length > 400) throw new InvalidKeyError("invalid artifact key");
  let m = ARTIFACT_KEY_RE.exec(key);
  if (m) {
    if (m[1] !== m[2]!.slice(0, 2)) throw new InvalidKeyError("key prefix does not match its digest");
    return { kind: "artifacts", key, sha256: m[2]!, ext: m[3]! };
  }
  m = RENDER_KEY_RE.exec(key);
  if (m) return { kind: "renders", key, owner: m[1]!, id: m[2]!, ext: m[3]! };
  throw new InvalidKeyError("invalid artifact key: expected artifacts/sha256/<aa>/<sha256>.<ext> or renders/<owner>/<id>.<ext>");
}

export function isArtifactKey(key: string): boolean {
  try {
    parseKey(key);
    return true;
  } catch {
    return false;
  }
}

/** Supabase Storage location of a key: bucket per first segment, path = the rest. */
export function supabaseLocation(key: string, buckets = { artifacts: "artifacts", renders: "renders" }): { bucket: string; path: string } {
  const p = parseKey(key);
  return { bucket: buckets[p.kind], path: key.slice(key.indexOf("/") + 1) };
}
