/**
 * Picks the backend for each compute step (seed 000): fill in-house first, spill overflow
 * to Modal, fall back to in-house when Modal fails. The in-house server is the one source of
 * truth for its capacity: the router never counts slots itself, it submits and reads the
 * answer (202, or 429 capacity with Retry-After), so several workers share it correctly.
 *
 *   in-house 202                      -> inhouse (inhouse_first)
 *   in-house 429 capacity             -> Modal   (inhouse_capacity)
 *     ... Modal breaker open / failing / full -> wait for in-house capacity, then inhouse
 *   in-house down (transport/5xx/breaker open) -> Modal (inhouse_down)
 *
 * Every placement is reported to `onDecision` (persisted + counted) with its reason.
 * The request body is passed through untouched: routing never changes engine/model.
 */
import type { Job, JobCreate } from "../contract.ts";
import { CapacityError, errorCode, HttpError, isBrokenCircuit, isTransient } from "../client/errors.ts";
import type { BackendName, ComputeClient } from "../client/modal-client.ts";
import { log as rootLog, type Logger } from "../log.ts";
import { Metrics } from "../metrics.ts";
import { REASONS, type Reason } from "./reasons.ts";

export interface Decision {
  backend: BackendName;
  reason: Reason;
}

export interface RouterDeps {
  metrics?: Metrics;
  log?: Logger;
  /** Wait between in-house capacity checks (ms), unless Retry-After says otherwise. Injected in tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Longest single wait for in-house capacity (ms). */
  maxWaitMs?: number;
  /** Give up waiting for capacity after this long in total (ms). */
  waitBudgetMs?: number;
}

export interface SubmitOptions {
  signal?: AbortSignal | undefined;
  /** Before each submission attempt: lets the caller persist which backend it is trying. */
  onAttempt?: (backend: BackendName) => Promise<void> | void;
  /** Once the job is placed, with the backend and the reason. */
  onDecision?: (d: Decision) => Promise<void> | void;
  /** Extra log fields (render id, step). */
  context?: Record<string, unknown>;
}

export class NoBackendError extends Error {
  override readonly name = "NoBackendError";
  readonly code = "no_backend";
  readonly retryable = true;
}

export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error("aborted"));
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason ?? new Error("aborted"));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export class Router {
  private readonly metrics: Metrics;
  private readonly log: Logger;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly maxWaitMs: number;
  private readonly waitBudgetMs: number;

  constructor(
    readonly backends: { inhouse: ComputeClient; modal?: ComputeClient | undefined },
    deps: RouterDeps = {},
  ) {
    this.metrics = deps.metrics ?? new Metrics();
    this.log = (deps.log ?? rootLog).child({ component: "router" });
    this.sleep = deps.sleep ?? abortableSleep;
    this.maxWaitMs = deps.maxWaitMs ?? 2_000;
    this.waitBudgetMs = deps.waitBudgetMs ?? 30 * 60_000;
  }

  client(name: BackendName): ComputeClient {
    const c = name === "modal" ? this.backends.modal : this.backends.inhouse;
    if (!c) throw new NoBackendError(`backend ${name} is not configured`);
    return c;
  }

  /**
   * Place one job. `onDecision` runs before the job id is known to the caller's store,
   * so the caller can record (backend, reason) first.
   */
  async submit(
    kind: JobCreate["kind"],
    input: Record<string, unknown>,
    idempotencyKey: string,
    opts: SubmitOptions = {},
  ): Promise<{ job: Job; decision: Decision }> {
    const { inhouse, modal } = this.backends;
    const started = Date.now();
    let waitReason: Reason | null = null;
    for (;;) {
      opts.signal?.throwIfAborted();
      let inhouseFull: CapacityError;
      try {
        await opts.onAttempt?.("inhouse");
        const job = await inhouse.submit(kind, input, idempotencyKey);
        return { job, decision: await this.decide({ backend: "inhouse", reason: waitReason ?? REASONS.inhouseFirst }, opts) };
      } catch (e) {
        if (e instanceof CapacityError) {
          inhouseFull = e;
        } else if (isTransient(e) || isBrokenCircuit(e)) {
          // In-house is down: every step goes to Modal.
          if (!modal) throw new NoBackendError(`in-house is down (${errorCode(e)}) and no Modal backend is configured`);
          this.log.warn({ event: "inhouse_down", code: errorCode(e), kind, ...opts.context }, "in-house down: routing to Modal");
          try {
            await opts.onAttempt?.("modal");
            const job = await modal.submit(kind, input, idempotencyKey);
            return { job, decision: await this.decide({ backend: "modal", reason: REASONS.inhouseDown }, opts) };
          } catch (me) {
            if (me instanceof HttpError && !(me instanceof CapacityError) && me.status < 500) throw me;
            throw new NoBackendError(`in-house down (${errorCode(e)}) and Modal unavailable (${errorCode(me)})`);
          }
        } else {
          throw e; // 4xx: the request is wrong wherever it goes
        }
      }

      // In-house is full: spill to Modal unless Modal is open/failing/full.
      if (modal) {
        try {
          await opts.onAttempt?.("modal");
          const job = await modal.submit(kind, input, idempotencyKey);
          return { job, decision: await this.decide({ backend: "modal", reason: REASONS.inhouseCapacity }, opts) };
        } catch (me) {
          if (isBrokenCircuit(me)) waitReason = REASONS.modalBreakerOpen;
          else if (me instanceof CapacityError) waitReason = REASONS.modalCapacity;
          else if (isTransient(me)) waitReason = REASONS.modalFailed;
          else throw me;
          this.log.info({ event: "wait_inhouse", reason: waitReason, code: errorCode(me), kind, ...opts.context }, "Modal unavailable: waiting for in-house capacity");
        }
      } else {
        waitReason = waitReason ?? REASONS.modalBreakerOpen;
      }
      if (Date.now() - started > this.waitBudgetMs) throw new NoBackendError("no capacity on any backend within the wait budget");
      const wait = Math.min(this.maxWaitMs, Math.max(50, inhouseFull.retryAfterMs ?? this.maxWaitMs));
      await this.sleep(wait, opts.signal);
    }
  }

  private async decide(d: Decision, opts: SubmitOptions): Promise<Decision> {
    this.metrics.routingDecisions.inc({ backend: d.backend, reason: d.reason });
    this.log.info({ event: "route", backend: d.backend, reason: d.reason, ...opts.context }, "routed step");
    await opts.onDecision?.(d);
    return d;
  }
}
