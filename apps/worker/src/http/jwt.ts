/**
 * Supabase Auth JWTs as bearer tokens. The owner is the token's `sub` (the user's id).
 *
 * Two key sources, either or both:
 *   - SUPABASE_JWKS_URL: the project's asymmetric signing keys (RS256, ES256, EdDSA), fetched
 *     with jose's remote key set: cached (jose's 10 min), refetched when a token names a key
 *     id it has not seen (at most once per 30 s cooldown, so random kids cannot make us hammer
 *     the endpoint), each fetch bounded by a timeout;
 *   - SUPABASE_JWT_SECRET: the legacy HS256 shared secret.
 * A token's `alg` picks the source, and only that source's algorithms are accepted: `none`,
 * and an HS256 token signed with a public key (algorithm confusion), are refused.
 * `iss`, `aud`, `exp` and `sub` are required; `exp`/`nbf` get a small clock tolerance.
 */
import { createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, type JWTVerifyGetKey } from "jose";
import type { Logger } from "../log.ts";
import { isReservedOwner, OWNER_RE } from "./auth.ts";

export interface JwtSettings {
  /** Supabase's `https://<project>.supabase.co/auth/v1/.well-known/jwks.json`. */
  jwksUrl?: string | undefined;
  /** Legacy HS256 secret. */
  secret?: string | undefined;
  issuer: string;
  audience: string;
  clockToleranceS: number;
  /** Bound of one JWKS fetch: a hanging endpoint answers 503 auth_unavailable after this long. */
  jwksTimeoutMs: number;
  /** After a fetch, how long an unknown key id waits before it may trigger another (jose's default: 30 s). */
  jwksCooldownMs?: number;
  /** How long fetched keys are used before they are fetched again (jose's default: 10 min). */
  jwksMaxAgeMs?: number;
}

export type JwtErrorCode = "token_expired" | "invalid_token" | "auth_unavailable";

/** Why a JWT was not accepted; `code` is the API's error code. */
export class JwtError extends Error {
  constructor(readonly code: JwtErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Who a valid token speaks for, and until when. */
export interface VerifiedJwt {
  /** The token's `sub`. */
  owner: string;
  /**
   * The first instant (ms since the epoch) the token is refused as expired: its `exp` plus the
   * clock tolerance, as jose judges it (expired once the whole seconds of now reach exp + tolerance).
   * A request outliving its token (an event stream) ends then.
   */
  expiresAtMs: number;
}

export interface JwtVerifier {
  /** The owner (`sub`) of a valid token and when it expires; throws JwtError otherwise. */
  verify(token: string): Promise<VerifiedJwt>;
}

/** What Supabase's asymmetric signing keys use; each key's type still has to fit its alg. */
const ASYMMETRIC = ["ES256", "RS256", "EdDSA"];

/** Compact JWS shape: three base64url parts. Anything else is not a JWT (and may be a static token). */
export const looksLikeJwt = (token: string) => /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);

/** The key set could not be had (endpoint down, hanging, not a JWKS): not the token's fault. */
class KeysUnavailable extends Error {}

/**
 * jose's remote key set, with its failures told apart from the token's: an unknown `kid` is the
 * token's fault (invalid_token), a fetch that failed is ours (auth_unavailable). When a refetch
 * fails, the keys fetched before still verify the tokens they signed: a JWKS blip after the
 * cache expired does not lock every user out. A kid they do not know stays unverifiable: 503.
 */
function remoteKeys(url: URL, s: JwtSettings, log?: Logger): JWTVerifyGetKey {
  const remote = createRemoteJWKSet(url, {
    timeoutDuration: s.jwksTimeoutMs,
    ...(s.jwksCooldownMs !== undefined ? { cooldownDuration: s.jwksCooldownMs } : {}),
    ...(s.jwksMaxAgeMs !== undefined ? { cacheMaxAge: s.jwksMaxAgeMs } : {}),
  });
  let stale: { json: string; keys: JWTVerifyGetKey } | undefined;
  return async (header, token) => {
    try {
      return await remote(header, token);
    } catch (e) {
      if (e instanceof errors.JWKSNoMatchingKey || e instanceof errors.JWKSMultipleMatchingKeys) throw e;
      const last = remote.jwks();
      if (last) {
        const json = JSON.stringify(last);
        if (stale?.json !== json) stale = { json, keys: createLocalJWKSet(last) };
        try {
          return await stale.keys(header, token);
        } catch {
          // Not among the keys we had: only the unreachable set could vouch for it.
        }
      }
      log?.warn({ event: "jwks_unavailable", url: url.href, err: String(e) }, "could not fetch the JWKS");
      throw new KeysUnavailable(String(e), { cause: e });
    }
  };
}

export function createJwtVerifier(s: JwtSettings, log?: Logger): JwtVerifier {
  if (!s.jwksUrl && !s.secret) throw new Error("a JWT verifier needs a JWKS URL or a secret");
  const secret = s.secret ? new TextEncoder().encode(s.secret) : undefined;
  const jwks = s.jwksUrl ? remoteKeys(new URL(s.jwksUrl), s, log) : undefined;
  const checks = { issuer: s.issuer, audience: s.audience, clockTolerance: s.clockToleranceS, requiredClaims: ["exp", "sub"] };

  async function payloadOf(token: string) {
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new JwtError("invalid_token", "the token is not a well-formed JWT");
    }
    if (alg === "HS256" && secret) return (await jwtVerify(token, secret, { ...checks, algorithms: ["HS256"] })).payload;
    if (jwks && typeof alg === "string" && ASYMMETRIC.includes(alg)) return (await jwtVerify(token, jwks, { ...checks, algorithms: ASYMMETRIC })).payload;
    throw new JwtError("invalid_token", `tokens signed with alg ${JSON.stringify(alg)} are not accepted`);
  }

  return {
    async verify(token) {
      let payload;
      try {
        payload = await payloadOf(token);
      } catch (e) {
        throw asJwtError(e);
      }
      const sub = payload.sub;
      if (typeof sub !== "string" || !OWNER_RE.test(sub)) throw new JwtError("invalid_token", "the token's sub is not a valid owner id");
      if (isReservedOwner(sub)) throw new JwtError("invalid_token", "the token's sub is a reserved owner name");
      // exp is required and checked by jose (a number); a fractional one rounds up, as jose's
      // whole-second clock reaches it only then.
      return { owner: sub, expiresAtMs: Math.ceil(Number(payload.exp) + s.clockToleranceS) * 1000 };
    },
  };
}

/** jose's errors as API codes. Their messages name claims and checks, never the token itself. */
function asJwtError(e: unknown): unknown {
  if (e instanceof JwtError) return e;
  if (e instanceof KeysUnavailable) return new JwtError("auth_unavailable", "the signing keys could not be fetched; try again", { cause: e.cause });
  if (e instanceof errors.JWTExpired) return new JwtError("token_expired", "the token has expired", { cause: e });
  if (e instanceof errors.JWKSNoMatchingKey) return new JwtError("invalid_token", "no signing key matches the token's kid", { cause: e });
  if (e instanceof errors.JWSSignatureVerificationFailed) return new JwtError("invalid_token", "the token's signature does not verify", { cause: e });
  if (e instanceof errors.JOSEError) return new JwtError("invalid_token", `the token is not valid: ${e.message}`, { cause: e });
  return e; // a bug, not a token: a 500 that gets logged
}
