/**
 * Who is calling: a request's bearer token is a static service token (WORKER_TOKENS) or a
 * Supabase user's JWT. Failures are AuthError, which the API answers in its error shape with
 * an RFC 6750 WWW-Authenticate header. The token itself is never put in an error or a log.
 */
import { bearerToken, sameSecret, staticOwner } from "./auth.ts";
import { JwtError, looksLikeJwt, type JwtErrorCode, type JwtVerifier } from "./jwt.ts";

/** Why a request was refused: a small fixed set (the auth failures metric's only label). */
export type AuthErrorCode = "unauthorized" | JwtErrorCode;
export const AUTH_ERROR_CODES: readonly AuthErrorCode[] = ["unauthorized", "invalid_token", "token_expired", "auth_unavailable"];

export class AuthError extends Error {
  constructor(
    readonly status: 401 | 503,
    readonly code: AuthErrorCode,
    message: string,
    readonly headers: Record<string, string>,
  ) {
    super(message);
  }

  /** A 503 (the signing keys could not be fetched) is worth retrying; a refused token is not. */
  get retryable(): boolean {
    return this.status === 503;
  }
}

// RFC 6750 §3: a request without credentials gets the bare challenge; a refused token, invalid_token.
const CHALLENGE = { "www-authenticate": "Bearer" };
const INVALID = { "www-authenticate": 'Bearer error="invalid_token"' };

const unauthorized = (headers: Record<string, string>) => new AuthError(401, "unauthorized", "a valid bearer token is required", headers);

/** Who is calling. */
export interface Caller {
  owner: string;
  /**
   * When the credentials stop being accepted (ms since the epoch; a JWT's exp plus the clock
   * tolerance), so a request that outlives them (an event stream) can end then. Undefined for
   * static service tokens, which never expire.
   */
  expiresAtMs?: number;
}

/** Resolves a request's Authorization header to its caller, or throws AuthError. */
export type Authenticate = (authorization: string | undefined) => Promise<Caller>;

export function makeAuthenticator(tokens: Map<string, string>, jwt?: JwtVerifier): Authenticate {
  return async (authorization) => {
    const token = bearerToken(authorization);
    if (token === null) throw unauthorized(CHALLENGE);
    const owner = staticOwner(tokens, token);
    if (owner) return { owner };
    // Without a verifier a JWT is just a token we do not know: unauthorized, as before.
    if (!jwt || !looksLikeJwt(token)) throw unauthorized(INVALID);
    try {
      return await jwt.verify(token); // its owner and when it expires
    } catch (e) {
      if (!(e instanceof JwtError)) throw e;
      if (e.code === "auth_unavailable") throw new AuthError(503, e.code, e.message, { "retry-after": "5" });
      throw new AuthError(401, e.code, e.message, INVALID);
    }
  };
}

/** /metrics with METRICS_TOKEN set: only that token, compared in constant time. */
export function checkMetricsToken(metricsToken: string, authorization: string | undefined): void {
  const token = bearerToken(authorization);
  if (token === null) throw unauthorized(CHALLENGE);
  if (!sameSecret(metricsToken, token)) throw unauthorized(INVALID);
}
