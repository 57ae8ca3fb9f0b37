/**
 * The resilience stack for one backend, built from cockatiel factories and combined with
 * `wrap`: retry (outermost) -> circuit breaker -> per-attempt timeout (innermost).
 * What counts as failure (`isTransient`) is separate from what to do about it.
 */
import {
  circuitBreaker,
  CircuitState,
  ExponentialBackoff,
  handleWhen,
  retry,
  SamplingBreaker,
  timeout,
  TimeoutStrategy,
  wrap,
  type IMergedPolicy,
  type CircuitBreakerPolicy,
  type RetryPolicy,
  type TimeoutPolicy,
} from "cockatiel";
import { isTransient } from "./errors.ts";
import { RetryAfterBackoff } from "./RetryAfterBackoff.ts";

export interface PolicyOptions {
  /** Each HTTP attempt's timeout (never the job's). */
  attemptTimeoutMs: number;
  /** Total attempts per call, the first included. */
  maxAttempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  /** Open when this share (0..1) of calls over `windowMs` failed ... */
  failureRate: number;
  windowMs: number;
  /** ... and at least this many calls per second were made (cockatiel's minimumRps; 0: MIN_CALLS_PER_WINDOW calls in the window). */
  minimumRps: number;
  /** Half-open probe after this long open. */
  halfOpenAfterMs: number;
}

export const DEFAULT_POLICY: PolicyOptions = {
  attemptTimeoutMs: 10_000,
  maxAttempts: 4,
  initialDelayMs: 200,
  maxDelayMs: 10_000,
  failureRate: 0.5,
  windowMs: 30_000,
  minimumRps: 0.2,
  halfOpenAfterMs: 10_000,
};

export interface Policies {
  retry: RetryPolicy;
  breaker: CircuitBreakerPolicy;
  timeout: TimeoutPolicy;
  all: IMergedPolicy<any, any, any>;
}

/** What BREAKER_MIN_RPS=0 stands for: the fewest calls in the window a failure rate means anything over. */
export const MIN_CALLS_PER_WINDOW = 3;

/**
 * BREAKER_MIN_RPS=0: no minimum rate beyond MIN_CALLS_PER_WINDOW calls in the window. cockatiel
 * reads a falsy minimumRps as "guess one" (5 failures a second: 300 calls in a 30 s window),
 * so a dead backend's breaker never opened; and with no floor at all (any rate > 0) one failed
 * attempt opened it, and the retry around the breaker then failed the call on
 * BrokenCircuitError: a single 502 followed by a 200 failed. Half a call short of the floor,
 * so the window's rounding into buckets (cockatiel's `duration`) never asks for one more.
 */
function floorRps(windowMs: number): number {
  return (MIN_CALLS_PER_WINDOW - 0.5) / (windowMs / 1000);
}

export function buildPolicies(o: PolicyOptions): Policies {
  const transient = handleWhen(isTransient);
  const retryPolicy = retry(transient, {
    maxAttempts: o.maxAttempts - 1,
    backoff: new RetryAfterBackoff(
      new ExponentialBackoff({ initialDelay: o.initialDelayMs, maxDelay: o.maxDelayMs }),
      o.maxDelayMs,
    ),
  });
  const breakerPolicy = circuitBreaker(transient, {
    halfOpenAfter: o.halfOpenAfterMs,
    breaker: new SamplingBreaker({ threshold: o.failureRate, duration: o.windowMs, minimumRps: o.minimumRps || floorRps(o.windowMs) }),
  });
  const timeoutPolicy = timeout(o.attemptTimeoutMs, TimeoutStrategy.Aggressive);
  return { retry: retryPolicy, breaker: breakerPolicy, timeout: timeoutPolicy, all: wrap(retryPolicy, breakerPolicy, timeoutPolicy) };
}

export function breakerStateName(s: CircuitState): "closed" | "open" | "half_open" | "isolated" {
  return s === CircuitState.Closed ? "closed" : s === CircuitState.Open ? "open" : s === CircuitState.HalfOpen ? "half_open" : "isolated";
}
