import { HttpError } from "../client/errors.ts";

/**
 * Any 429: `capacity` from the compute plane (a CapacityError), or another code (or body)
 * from a gateway or proxy in front of it (`rate_limited`, ...). Either way the backend is
 * asking for fewer requests, never saying the request is wrong: the router treats it as
 * "full" (spill, or wait and try again), and a render's attempt it ends is retryable.
 */
export function isTooManyRequests(e: unknown): e is HttpError {
  return e instanceof HttpError && e.status === 429;
}
