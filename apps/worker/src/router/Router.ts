/**
 * Picks the backend for each compute step (seed 000): fill in-house first, spill overflow
 * to Modal, fall back to in-house when Modal fails. The in-house server is the one source of
 * truth for its capacity: the router never counts slots itself, it submits and reads the
 * answer (202, or 429 capacity with Retry-After), so several workers share it correctly.
 *
 *   in-house 202                      -> inhouse (inhouse_first)
 *   in-house 429 capacity             -> Modal   (inhouse_capacity)
 *   in-house down (transport/5xx/breaker open) -> Modal (inhouse_down)
 *     ... Modal breaker open / failing / full / rejecting us (401/403/404/405: its own setup)
 *         -> wait (Retry-After, at most `maxWaitMs` at a time) and try both again, within
 *            `waitBudgetMs`; then whichever takes it first
 *
 * Every placement is reported to `onDecision` (persisted + counted) with its reason.
 * The request body is passed through untouched: routing never changes engine/model.
 */
import type { Job, JobCreate } from "../contract.ts";
import { CapacityError, errorCode, HttpError, isBrokenCircuit, isMisconfigured, isTransient } from "../client/errors.ts";
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
    let modalNotBefore = 0; // Modal's Retry-After: it is not asked again before then
    for (;;) {
      opts.signal?.throwIfAborted();
      let inhouseFull: CapacityError | null = null;
      let inhouseDown: unknown = null;
      try {
        await opts.onAttempt?.("inhouse");
        const job = await inhouse.submit(kind, input, idempotencyKey);
        return { job, decision: await this.decide({ backend: "inhouse", reason: waitReason ?? REASONS.inhouseFirst }, opts) };
      } catch (e) {
        if (e instanceof CapacityError) inhouseFull = e;
        else if (isTransient(e) || isBrokenCircuit(e)) inhouseDown = e;
        else throw e; // 4xx: the request is wrong wherever it goes
      }
      if (inhouseDown !== null) {
        // In-house is down: every step goes to Modal.
        if (!modal) throw new NoBackendError(`in-house is down (${errorCode(inhouseDown)}) and no Modal backend is configured`);
        this.log.warn({ event: "inhouse_down", code: errorCode(inhouseDown), kind, ...opts.context }, "in-house down: routing to Modal");
      }

      // Spill (in-house full) or fall back (in-house down) to Modal. When Modal is open,
      // failing, full or rejects us, wait and try both again: failing the attempt instead
      // would burn the render's attempts within minutes of a brief overlap of the two.
      if (modal && Date.now() >= modalNotBefore) {
        try {
          await opts.onAttempt?.("modal");
          const job = await modal.submit(kind, input, idempotencyKey);
          const reason = inhouseDown !== null ? REASONS.inhouseDown : REASONS.inhouseCapacity;
          return { job, decision: await this.decide({ backend: "modal", reason }, opts) };
        } catch (me) {
          waitReason = this.modalUnavailable(me, kind, opts);
          const retryAfterMs = me instanceof HttpError ? me.retryAfterMs : undefined;
          if (retryAfterMs) modalNotBefore = Date.now() + retryAfterMs;
        }
      } else if (!modal) {
        waitReason = waitReason ?? REASONS.modalBreakerOpen;
      }
      if (Date.now() - started > this.waitBudgetMs) {
        throw new NoBackendError(
          inhouseDown !== null
            ? `in-house down (${errorCode(inhouseDown)}) and Modal unavailable (${waitReason}) for the whole wait budget`
            : "no capacity on any backend within the wait budget",
        );
      }
      // In-house full: its Retry-After. In-house down: poll it (its breaker fails fast while
      // open, and half-opens by itself) and let Modal's Retry-After run out.
      const hint = inhouseFull?.retryAfterMs ?? (modalNotBefore > Date.now() ? modalNotBefore - Date.now() : undefined);
      const wait = Math.min(this.maxWaitMs, Math.max(50, hint ?? this.maxWaitMs));
      await this.sleep(wait, opts.signal);
    }
  }

  /** Why Modal cannot take the step now (the wait reason), or rethrows what would fail anywhere. */
  private modalUnavailable(me: unknown, kind: JobCreate["kind"], opts: SubmitOptions): Reason {
    let reason: Reason;
    if (isBrokenCircuit(me)) reason = REASONS.modalBreakerOpen;
    else if (me instanceof CapacityError) reason = REASONS.modalCapacity;
    else if (isTransient(me)) reason = REASONS.modalFailed;
    else if (isMisconfigured(me)) {
      // A wrong token or URL, or a deploy without the route or kind: Modal's own setup, not
      // the request's fault. In-house takes the step once it can, so the render must not
      // fail for it; but someone has to fix Modal, hence the error log and the metric.
      this.metrics.backendRejections.inc({ backend: "modal", code: errorCode(me) });
      this.log.error(
        { event: "modal_rejected", status: me.status, code: errorCode(me), err: me.message, kind, ...opts.context },
        "Modal rejected the request (check MODAL_COMPUTE_URL / MODAL_COMPUTE_TOKEN and the deploy): waiting for in-house",
      );
      return REASONS.modalRejected;
    } else throw me; // 400/409/422: the request itself is wrong; in-house would refuse it too
    this.log.info({ event: "wait_inhouse", reason, code: errorCode(me), kind, ...opts.context }, "Modal unavailable: waiting for in-house");
    return reason;
  }

  private async decide(d: Decision, opts: SubmitOptions): Promise<Decision> {
    this.metrics.routingDecisions.inc({ backend: d.backend, reason: d.reason });
    this.log.info({ event: "route", backend: d.backend, reason: d.reason, ...opts.context }, "routed step");
    await opts.onDecision?.(d);
    return d;
  }
}
