/**
 * Publishes into the local artifact store: the same directory the compute plane writes
 * (CANVASCAST_DATA_DIR/store, files at <root>/<key>). The copy is atomic (temp file in
 * <root>/.tmp, then rename) and the URL is signed like the compute plane signs it, so
 * `GET {COMPUTE_PUBLIC_URL}/v1/artifacts/renders/...` serves it.
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, existsSync, mkdirSync, readFileSync } from "node:fs";
import { copyFile, rename, rm, stat } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import type { ArtifactRef } from "../contract.ts";
import { contentTypeFor, parseKey, publishedKey } from "./keys.ts";
import { PublishError, type Publisher, type SignedUrlResult } from "./publisher.ts";
import { signedUrl } from "./signing.ts";

export async function sha256File(path: string): Promise<{ sha256: string; size: number }> {
  const h = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: h.digest("hex"), size };
}

/** ARTIFACT_SIGNING_SECRET, else the secret the compute plane persisted in its data dir. */
export function loadSigningSecret(dataDir: string, env = process.env.ARTIFACT_SIGNING_SECRET): string {
  if (env) return env;
  const path = join(dataDir, "signing-secret");
  if (!existsSync(path)) throw new PublishError("storage_unavailable", `no ARTIFACT_SIGNING_SECRET and no ${path} (start the compute plane first)`, true);
  return readFileSync(path, "utf8").trim();
}

export class LocalPublisher implements Publisher {
  readonly kind = "local" as const;
  readonly root: string;

  constructor(
    root: string,
    private readonly baseUrl: string,
    private readonly secret: () => string,
    private readonly expiresInS = 7 * 24 * 3600,
    private readonly now: () => number = () => Date.now() / 1000,
  ) {
    this.root = resolve(root);
  }

  pathFor(key: string): string {
    parseKey(key);
    const p = resolve(this.root, key);
    if (!p.startsWith(this.root + sep)) throw new PublishError("invalid_key", "key escapes the store", false);
    return p;
  }

  async signedUrl(key: string, expiresInS = this.expiresInS): Promise<string> {
    return signedUrl(this.baseUrl, this.secret(), key, Math.ceil(this.now()) + expiresInS); // rounded up: it lives at least expiresInS
  }

  /** Signed here (an HMAC each, no I/O); an invalid key is that key's error. */
  async signedUrls(keys: readonly string[], expiresInS = this.expiresInS): Promise<SignedUrlResult[]> {
    const exp = Math.ceil(this.now()) + expiresInS; // rounded up: they live at least expiresInS
    const secret = this.secret();
    return keys.map((key) => {
      try {
        return { key, url: signedUrl(this.baseUrl, secret, key, exp) };
      } catch (e) {
        return { key, error: new PublishError("invalid_key", (e as Error).message, false) };
      }
    });
  }

  async remove(keys: readonly string[]): Promise<void> {
    for (const key of keys) await rm(this.pathFor(key), { force: true });
  }

  async publish(source: ArtifactRef, owner: string, id: string): Promise<ArtifactRef & { url: string }> {
    const parsed = parseKey(source.key);
    const src = this.pathFor(source.key);
    if (!existsSync(src)) throw new PublishError("artifact_not_found", `no artifact at ${source.key}`, false);
    const actual = await sha256File(src);
    if (actual.sha256 !== source.sha256 || (parsed.kind === "artifacts" && parsed.sha256 !== source.sha256)) {
      throw new PublishError("checksum_mismatch", `sha256 of ${source.key} is ${actual.sha256}, expected ${source.sha256}`, false);
    }
    const key = publishedKey(owner, id, parsed.ext);
    const dest = this.pathFor(key);
    mkdirSync(dirname(dest), { recursive: true });
    const tmpDir = join(this.root, ".tmp");
    mkdirSync(tmpDir, { recursive: true });
    const tmp = join(tmpDir, `publish-${randomBytes(6).toString("hex")}`);
    try {
      await copyFile(src, tmp);
      await rename(tmp, dest);
    } finally {
      await rm(tmp, { force: true });
    }
    const size = (await stat(dest)).size;
    return { key, sha256: actual.sha256, size, content_type: contentTypeFor(parsed.ext), url: await this.signedUrl(key) };
  }
}
