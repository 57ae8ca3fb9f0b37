/**
 * What can go wrong talking to a backend, and which of it is worth retrying.
 * Transient (retried, counted by the breaker): transport failures, per-attempt timeouts, 5xx.
 * Not transient: 4xx (the request is wrong; never retried) and `429 capacity`, which is a
 * routing signal for the router, not a failure.
 */
import { BrokenCircuitError, IsolatedCircuitError, TaskCancelledError } from "cockatiel";

export class HttpError extends Error {
  override readonly name: string = "HttpError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterMs?: number,
    readonly body?: unknown,
  ) {
    super(message);
  }
}

export const MALFORMED_ANSWER = "malformed_answer";

/** A success status whose body is not JSON: the backend answered, but not in the contract. */
export class MalformedAnswerError extends HttpError {
  override readonly name = "MalformedAnswerError";
}

/** 429 with code `capacity`: the backend is full right now; try elsewhere or later. */
export class CapacityError extends HttpError {
  override readonly name = "CapacityError";
}

/** The request never got an HTTP answer: refused, reset, DNS, per-attempt timeout. */
export class TransportError extends Error {
  override readonly name = "TransportError";
  constructor(message: string, readonly code: string, override readonly cause?: unknown) {
    super(message);
  }
}

export const isCapacity = (e: unknown): e is CapacityError => e instanceof CapacityError;

/** `404 submission_in_progress` from the key lookup: no job for the key yet, but the server is handling a POST with it. */
export const SUBMISSION_IN_PROGRESS = "submission_in_progress";
export const isSubmissionInProgress = (e: unknown): e is HttpError =>
  e instanceof HttpError && e.status === 404 && e.code === SUBMISSION_IN_PROGRESS;
export const isBrokenCircuit = (e: unknown): boolean => e instanceof BrokenCircuitError || e instanceof IsolatedCircuitError;

export function isTransient(e: unknown): boolean {
  if (e instanceof TransportError || e instanceof TaskCancelledError) return true;
  if (e instanceof CapacityError) return false;
  if (e instanceof HttpError) return e.status >= 500;
  return false;
}

/**
 * A refusal that says the backend is set up wrong, not that the request is: a bad token
 * (401/403), a wrong URL or an old deploy without the route or the kind (404/405,
 * `unknown_kind`). The other backend may well take the same request; 400/409/422 it would not.
 */
export function isMisconfigured(e: unknown): e is HttpError {
  if (!(e instanceof HttpError) || e instanceof CapacityError) return false;
  return [401, 403, 404, 405].includes(e.status) || e.code === "unknown_kind";
}

/** Connection-level failures that happen before a request is sent: nothing reached the server. */
const NEVER_SENT = new Set(["econnrefused", "enotfound", "eai_again", "ehostunreach", "enetunreach", "und_err_connect_timeout"]);

/**
 * A failed attempt that may nevertheless have reached the server and been acted on: it timed
 * out, the connection broke after the request went out, or a gateway (502/504) lost the
 * answer. Any other HTTP answer is the compute plane's own, given before it kept anything
 * (a refused submission is not recorded), and a refused connection or an open breaker sent
 * nothing at all.
 */
export function mayHaveArrived(e: unknown): boolean {
  if (e instanceof TaskCancelledError || (e as { name?: string })?.name === "AbortError") return true;
  if (e instanceof TransportError) return !NEVER_SENT.has(e.code);
  if (e instanceof HttpError) return e.status === 502 || e.status === 504;
  return false;
}

/** A short machine-readable code for metrics and logs. */
export function errorCode(e: unknown): string {
  if (e instanceof HttpError) return e.code || `http_${e.status}`;
  if (e instanceof TransportError) return e.code;
  if (e instanceof TaskCancelledError) return "timeout";
  if (isBrokenCircuit(e)) return "breaker_open";
  return "internal";
}

/** Node runs a timer longer than this (or Infinity) after 1 ms. */
const TIMER_MAX_MS = 2 ** 31 - 1;

/**
 * Retry-After: delta seconds or an HTTP date, in ms from `now`, at most what a timer can wait:
 * a huge value (or hundreds of digits: Infinity) slept on as it came would fire at once.
 */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.min(TIMER_MAX_MS, Math.round(Number(v) * 1000));
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.min(TIMER_MAX_MS, Math.max(0, at - now));
}
