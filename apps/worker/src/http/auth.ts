/**
 * Static bearer tokens (service tokens) carry an owner: WORKER_TOKENS="token1:owner1,token2:owner2".
 * A token reads and cancels only its owner's renders; another owner's render is "not found"
 * (404), so ids leak nothing. Tokens compare in constant time. Supabase users' JWTs are
 * checked in jwt.ts; authenticate.ts decides which kind a request carries.
 */
import { createHash, timingSafeEqual } from "node:crypto";

/** What an owner may be: a static token's owner, or a JWT's `sub` (Supabase user ids are UUIDs). */
export const OWNER_RE = /^[A-Za-z0-9_-]{1,128}$/;

/** Owner names the system itself uses under renders/ (modal_functions/images/cache.py OWNER). */
const RESERVED_OWNERS = new Set(["image-cache"]);

/**
 * Whether `owner` is a name the system keeps for itself. The compute plane keeps its image
 * cache's index under renders/image-cache/: a caller of that name (a static token's owner, a
 * JWT's `sub`) would pass as the owner of those files.
 */
export const isReservedOwner = (owner: string): boolean => RESERVED_OWNERS.has(owner);

export function parseTokens(spec: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (spec ?? "").split(",").map((s) => s.trim()).filter(Boolean)) {
    const i = part.lastIndexOf(":");
    if (i <= 0) throw new Error("WORKER_TOKENS entries are token:owner");
    const token = part.slice(0, i);
    const owner = part.slice(i + 1);
    if (!OWNER_RE.test(owner)) throw new Error(`WORKER_TOKENS owner ${JSON.stringify(owner)} must match [A-Za-z0-9_-]{1,128}`);
    if (isReservedOwner(owner)) throw new Error(`WORKER_TOKENS owner ${JSON.stringify(owner)} is reserved`);
    out.set(token, owner);
  }
  return out;
}

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(authorization: string | undefined): string | null {
  return /^Bearer\s+(\S+)$/i.exec(authorization ?? "")?.[1] ?? null;
}

// Digests first: timingSafeEqual needs equal lengths, and comparing digests leaks no length.
const digest = (s: string) => createHash("sha256").update(s).digest();

/** Constant-time equality of a configured secret and what a client sent. */
export function sameSecret(expected: string, given: string): boolean {
  return timingSafeEqual(digest(expected), digest(given));
}

/** The owner of a static token, or null. Every token is compared, so timing tells nothing about which matched. */
export function staticOwner(tokens: Map<string, string>, token: string): string | null {
  const given = digest(token);
  let owner: string | null = null;
  for (const [t, o] of tokens) if (timingSafeEqual(digest(t), given)) owner = o;
  return owner;
}

export function ownerFor(tokens: Map<string, string>, authorization: string | undefined): string | null {
  const token = bearerToken(authorization);
  return token === null ? null : staticOwner(tokens, token);
}
