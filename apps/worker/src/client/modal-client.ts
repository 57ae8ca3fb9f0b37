/**
 * The compute client (the PRD's `modal-client.ts`): one instance per backend, in-house or
 * Modal, both speaking the same HTTP contract (POST /v1/jobs, GET /v1/jobs?idempotency_key=,
 * GET/DELETE /v1/jobs/{id}, POST /v1/warm, GET /health). Every call runs through that backend's shared policy stack
 * (policies.ts): retries with exponential backoff + jitter honouring Retry-After for
 * transient failures only, a failure-rate circuit breaker with half-open probes, and a
 * per-attempt timeout. `429 capacity` surfaces as `CapacityError` for the router.
 * Breaker and retry events feed metrics and logs.
 */
import { CircuitState } from "cockatiel";
import type { Health, Job, JobCreate, WarmLease, WarmRequest } from "../contract.ts";
import { log as rootLog, type Logger } from "../log.ts";
import { Metrics } from "../metrics.ts";
import { CapacityError, errorCode, HttpError, isTransient, MALFORMED_ANSWER, MalformedAnswerError, mayHaveArrived, parseRetryAfter, TransportError } from "./errors.ts";
import { orAborted } from "../orAborted.ts";
import { breakerStateName, buildPolicies, DEFAULT_POLICY, type Policies, type PolicyOptions } from "./policies.ts";

export type BackendName = "inhouse" | "modal";

export { MALFORMED_ANSWER, MalformedAnswerError } from "./errors.ts";

export interface BackendConfig {
  name: BackendName;
  baseUrl: string;
  token?: string | undefined;
  policy?: Partial<PolicyOptions>;
}

export interface ClientDeps {
  metrics?: Metrics;
  log?: Logger;
  fetch?: typeof fetch;
}

/**
 * Filled in by `submit`: `unanswered` becomes true once any attempt may have reached the
 * backend without its answer reaching us (see `mayHaveArrived`), i.e. the backend may hold
 * a job for the idempotency key although the call failed.
 */
export interface SubmitTrace {
  unanswered: boolean;
}

/** What one attempt returns through the policy stack: a value, or a non-transient HTTP answer. */
type Answered<T> = { value: T } | { rejected: HttpError };

const STATE_GAUGE: Record<string, number> = { closed: 0, open: 1, half_open: 2, isolated: 1 };

export class ComputeClient {
  readonly name: BackendName;
  readonly baseUrl: string;
  readonly options: PolicyOptions;
  readonly policies: Policies;
  private readonly token: string | undefined;
  private readonly metrics: Metrics;
  private readonly log: Logger;
  private readonly fetchImpl: typeof fetch;

  constructor(cfg: BackendConfig, deps: ClientDeps = {}) {
    this.name = cfg.name;
    this.baseUrl = cfg.baseUrl.replace(/\/+$/, "");
    this.token = cfg.token;
    this.options = { ...DEFAULT_POLICY, ...cfg.policy };
    this.metrics = deps.metrics ?? new Metrics();
    this.log = (deps.log ?? rootLog).child({ backend: this.name });
    this.fetchImpl = deps.fetch ?? fetch;
    this.policies = buildPolicies(this.options);

    const backend = this.name;
    this.metrics.breakerState.set({ backend }, 0);
    this.policies.breaker.onStateChange((s) => {
      const state = breakerStateName(s);
      this.metrics.breakerState.set({ backend }, STATE_GAUGE[state] ?? 1);
      this.metrics.breakerTransitions.inc({ backend, state });
    });
    this.policies.breaker.onBreak((reason) => {
      const error = "error" in reason ? reason.error : undefined;
      this.log.warn({ event: "breaker_open", code: errorCode(error), err: error?.message }, "circuit breaker opened");
    });
    this.policies.breaker.onHalfOpen(() => this.log.info({ event: "breaker_half_open" }, "circuit breaker half-open: probing"));
    this.policies.breaker.onReset(() => this.log.info({ event: "breaker_closed" }, "circuit breaker closed"));
    this.policies.retry.onRetry((r) => {
      const error = "error" in r ? r.error : undefined;
      const code = errorCode(error);
      this.metrics.retries.inc({ backend, reason: code });
      this.log.warn({ event: "retry", code, attempt: r.attempt, delay_ms: Math.round(r.delay), err: error?.message }, "retrying compute call");
    });
    this.policies.retry.onGiveUp((r) => {
      const error = "error" in r ? r.error : undefined;
      this.metrics.errors.inc({ backend, code: errorCode(error) });
      this.log.error({ event: "give_up", code: errorCode(error), err: error?.message }, "compute call failed after retries");
    });
  }

  get breakerState(): "closed" | "open" | "half_open" | "isolated" {
    return breakerStateName(this.policies.breaker.state);
  }

  get breakerOpen(): boolean {
    return this.policies.breaker.state === CircuitState.Open;
  }

  submit(kind: JobCreate["kind"], input: Record<string, unknown>, idempotencyKey: string, trace?: SubmitTrace, signal?: AbortSignal): Promise<Job> {
    const body: JobCreate = { kind, input, idempotency_key: idempotencyKey };
    return this.call<Job>("POST", "/v1/jobs", body, trace, signal);
  }

  get(jobId: string, signal?: AbortSignal): Promise<Job> {
    return this.call<Job>("GET", `/v1/jobs/${encodeURIComponent(jobId)}`, undefined, undefined, signal);
  }

  /**
   * The job a POST with this key would be answered with, read without submitting anything
   * (`GET /v1/jobs?idempotency_key=`, same policies as every GET); `null` on `404 not_found`
   * (such a POST would create a new job). With `kind`, a job of another kind is `null` too.
   * `404 submission_in_progress` (no job yet, but the server is handling a POST with the key)
   * is thrown: see `isSubmissionInProgress`.
   */
  async findByIdempotencyKey(key: string, kind?: JobCreate["kind"], signal?: AbortSignal): Promise<Job | null> {
    const query = new URLSearchParams({ idempotency_key: key, ...(kind ? { kind } : {}) });
    try {
      return await this.call<Job>("GET", `/v1/jobs?${query}`, undefined, undefined, signal);
    } catch (e) {
      if (e instanceof HttpError && e.status === 404 && e.code === "not_found") return null;
      throw e;
    }
  }

  cancel(jobId: string, signal?: AbortSignal): Promise<Job> {
    return this.call<Job>("DELETE", `/v1/jobs/${encodeURIComponent(jobId)}`, undefined, undefined, signal);
  }

  health(): Promise<Health> {
    return this.call<Health>("GET", "/health");
  }

  warm(req: WarmRequest): Promise<WarmLease> {
    return this.call<WarmLease>("POST", "/v1/warm", req);
  }

  /**
   * One logical call: retries, breaker and per-attempt timeout around `attempt()`.
   * A 4xx or `429 capacity` is an answer from a backend that is up, so it leaves the policy
   * stack as a value and is thrown only after it: the breaker records a success. Thrown
   * from inside, cockatiel (3.2.1) closes a half-open breaker without `breaker.success()`,
   * so the failures that opened it stay in the window and a single 5xx re-opens it; a 429
   * is the usual answer of a freshly restarted, busy in-house server to the probe.
   *
   * `signal` (the caller's: a render stopping, a shutdown) ends the call at once, rejected
   * with its reason: the request in flight is closed and no attempt follows, not even one
   * whose backoff is under way. The reason is no failure the policies handle, so it is
   * neither retried nor counted by the breaker (an abort says nothing about the backend).
   * Not given to cockatiel's `execute`: its timeout policy would turn it into its own
   * "timed out" (TaskCancelledError), a failure the breaker counts.
   */
  async call<T>(method: string, path: string, body?: unknown, trace?: SubmitTrace, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    let inFlight = 0;
    // Set on the abort itself: the call rejects before the aborted attempt's catch runs.
    const onAbort = () => void (trace && inFlight > 0 && (trace.unanswered = true));
    signal?.addEventListener("abort", onAbort, { once: true });
    let out: Answered<T>;
    const { retry, breaker, timeout } = this.policies; // policies.all, taken apart to check the signal outside the breaker
    try {
      // cockatiel's retry sleeps out its backoff whatever the signal: the caller is answered at once.
      out = await orAborted(retry.execute(() => {
        // Aborted during a backoff: no more attempts. Checked before the breaker: thrown inside
        // it, the abort's reason would close a half-open breaker (cockatiel: "failed successfully").
        signal?.throwIfAborted();
        return breaker.execute(() => timeout.execute(async ({ signal: attemptSignal }): Promise<Answered<T>> => {
          // The half-open probe is not cut short by the caller (who is answered at once all the
          // same, `orAborted`): its own answer decides whether the backend is back. (A call the
          // breaker lets through while not closed is the probe; cockatiel runs it before it sets
          // the state to half-open.)
          const caller = breaker.state === CircuitState.Closed ? signal : undefined;
          inFlight++;
          try {
            return { value: await this.attempt<T>(method, path, body, caller ? AbortSignal.any([attemptSignal, caller]) : attemptSignal) };
          } catch (e) {
            if (caller?.aborted) throw caller.reason;
            if (trace && mayHaveArrived(e)) trace.unanswered = true;
            if (e instanceof HttpError && !isTransient(e)) return { rejected: e };
            throw e;
          } finally {
            inFlight--;
          }
        }));
      }), signal);
    } catch (e) {
      // The last attempt's timeout rejects before that attempt's own catch has run.
      if (trace && mayHaveArrived(e)) trace.unanswered = true;
      throw e;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
    if ("rejected" in out) throw out.rejected;
    return out.value;
  }

  /** A single HTTP attempt, no policies: errors become HttpError/CapacityError/TransportError. */
  async attempt<T>(method: string, path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let res: Response;
    try {
      res = await this.fetchImpl(this.baseUrl + path, {
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        ...(signal ? { signal } : {}),
      });
    } catch (e) {
      throw transportError(e);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (e) {
      throw transportError(e);
    }
    if (res.ok) return parseAnswer<T>(text, res.status);
    const { code, message } = errorBody(text, res.status);
    const retryAfter = parseRetryAfter(res.headers.get("retry-after"));
    if (res.status === 429 && (code === "capacity" || code === "http_429")) {
      throw new CapacityError(429, "capacity", message, retryAfter, text);
    }
    throw new HttpError(res.status, code, message, retryAfter, text);
  }
}

/**
 * A 2xx body that is not JSON (an HTML page from a proxy or a wrong URL): a
 * `MalformedAnswerError` (an HttpError, so not retried here and not a breaker failure, like a
 * 4xx; transient for the pipeline, which polls again or retries the step). A bare SyntaxError thrown inside the policy stack used to close a half-open
 * breaker without clearing its window and reached the router as `internal`.
 */
function parseAnswer<T>(text: string, status: number): T {
  if (!text) return null as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new MalformedAnswerError(status, MALFORMED_ANSWER, `HTTP ${status} with a body that is not JSON: ${JSON.stringify(text.slice(0, 200))}`, undefined, text);
  }
}

function errorBody(text: string, status: number): { code: string; message: string } {
  try {
    const parsed = JSON.parse(text) as { error?: { code?: string; message?: string }; detail?: unknown };
    if (parsed?.error?.code) return { code: parsed.error.code, message: parsed.error.message ?? "" };
    if (parsed?.detail) return { code: `http_${status}`, message: JSON.stringify(parsed.detail) };
  } catch {
    /* not JSON */
  }
  return { code: `http_${status}`, message: text.slice(0, 500) || `HTTP ${status}` };
}

function transportError(e: unknown): Error {
  if ((e as { name?: string })?.name === "AbortError") return e as Error; // the timeout policy owns aborts
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  const code = (cause?.code ?? "transport").toLowerCase();
  return new TransportError(`${(e as Error)?.message ?? "fetch failed"}${cause?.message ? `: ${cause.message}` : ""}`, code, e);
}
