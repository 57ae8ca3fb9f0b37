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
 *
 * An in-house POST that timed out may still have created the job (idempotency keys are per
 * backend, so Modal would run a second copy and the in-house one would hold a slot that
 * nobody polls). The compute plane has no lookup by key, but it checks a key before its
 * capacity: re-POSTing the same key returns the job if there is one, 429 if there is none
 * and it is full. So when a step placed on Modal had an unanswered in-house POST, the router
 * keeps re-POSTing that key to in-house in the background until in-house answers, and
 * cancels the job it gets back (the one the lost POST created or, if none was, the probe's
 * own). Only after a Modal placement: a step that is still waiting, or is resumed after a
 * lease loss, a shutdown or a failed attempt, keeps the same key, so in-house hands it that
 * very job.
 */
import type { Job, JobCreate } from "../contract.ts";
import { CapacityError, errorCode, HttpError, isBrokenCircuit, isMisconfigured, isTransient } from "../client/errors.ts";
import type { BackendName, ComputeClient, SubmitTrace } from "../client/modal-client.ts";
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
  /** Give up waiting for capacity after this long in total (ms); also how long an unanswered
   * in-house submission is chased after its step went to Modal. */
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
  private readonly reclaims = new Set<Promise<void>>();
  private readonly closing = new AbortController();

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
    const inhouseTrace: SubmitTrace = { unanswered: false }; // an in-house POST may hold this key
    for (;;) {
      opts.signal?.throwIfAborted();
      let inhouseFull: CapacityError | null = null;
      let inhouseDown: unknown = null;
      try {
        await opts.onAttempt?.("inhouse");
        const job = await inhouse.submit(kind, input, idempotencyKey, inhouseTrace);
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
          if (inhouseTrace.unanswered) this.reclaimInhouse(kind, input, idempotencyKey, job.id, opts.context);
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

  /** In-house submissions still being chased (see the header). */
  get reclaiming(): number {
    return this.reclaims.size;
  }

  /** Stop chasing unanswered in-house submissions (shutdown) and wait for the chases to end. */
  async close(): Promise<void> {
    this.closing.abort(new Error("router closed"));
    await Promise.allSettled([...this.reclaims]);
  }

  /**
   * A step went to Modal (`modalJobId`) after an in-house POST with the same key got no
   * answer. Re-POST the key to in-house until it answers: a job back is a second copy
   * nobody polls, so cancel it; 429 means in-house has no job for the key (it checks keys
   * before capacity).
   */
  private reclaimInhouse(kind: JobCreate["kind"], input: Record<string, unknown>, key: string, modalJobId: string, context?: Record<string, unknown>): void {
    const inhouse = this.backends.inhouse;
    const signal = this.closing.signal;
    const fields = { event: "inhouse_unanswered", kind, idempotency_key: key, modal_job_id: modalJobId, ...context };
    this.log.warn(fields, "step placed on Modal after an unanswered in-house submit: making sure in-house runs no copy");
    const started = Date.now();
    const chase = async (): Promise<void> => {
      for (;;) {
        signal.throwIfAborted();
        const asked = Date.now();
        try {
          const job = await inhouse.submit(kind, input, key);
          const live = job.status === "queued" || job.status === "running";
          const cancelled = live ? await inhouse.cancel(job.id) : job;
          // created_at before this probe: the copy the lost POST created; else the probe's own.
          const duplicate = Date.parse(job.created_at) < asked;
          this.log.warn({ ...fields, event: "inhouse_duplicate_cancelled", inhouse_job_id: job.id, status: cancelled.status, duplicate }, "cancelled the in-house copy of a step running on Modal");
          return;
        } catch (e) {
          if (e instanceof CapacityError) {
            this.log.info({ ...fields, event: "inhouse_no_duplicate" }, "in-house holds no job for the key");
            return;
          }
          if (!(isTransient(e) || isBrokenCircuit(e))) throw e;
          if (Date.now() - started > this.waitBudgetMs) throw e;
        }
        await this.sleep(this.maxWaitMs, signal);
      }
    };
    const p: Promise<void> = chase()
      .catch((e: unknown) => {
        if (signal.aborted) return;
        this.log.error({ ...fields, event: "inhouse_duplicate_unresolved", code: errorCode(e), err: (e as Error)?.message }, "could not check in-house for a copy of a step running on Modal");
      })
      .finally(() => this.reclaims.delete(p));
    this.reclaims.add(p);
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
