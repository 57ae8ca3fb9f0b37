/**
 * Bearer tokens carry an owner: WORKER_TOKENS="token1:owner1,token2:owner2". A token reads
 * and cancels only its owner's renders; another owner's render is "not found" (404), so
 * ids leak nothing. Tokens compare in constant time.
 */
import { createHash, timingSafeEqual } from "node:crypto";

const OWNER_RE = /^[A-Za-z0-9_-]{1,128}$/;

export function parseTokens(spec: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (spec ?? "").split(",").map((s) => s.trim()).filter(Boolean)) {
    const i = part.lastIndexOf(":");
    if (i <= 0) throw new Error("WORKER_TOKENS entries are token:owner");
    const token = part.slice(0, i);
    const owner = part.slice(i + 1);
    if (!OWNER_RE.test(owner)) throw new Error(`WORKER_TOKENS owner ${JSON.stringify(owner)} must match [A-Za-z0-9_-]{1,128}`);
    out.set(token, owner);
  }
  return out;
}

const digest = (s: string) => createHash("sha256").update(s).digest();

export function ownerFor(tokens: Map<string, string>, authorization: string | undefined): string | null {
  const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? "");
  if (!m) return null;
  const given = digest(m[1]!);
  let owner: string | null = null;
  for (const [token, o] of tokens) if (timingSafeEqual(digest(token), given)) owner = o;
  return owner;
}
