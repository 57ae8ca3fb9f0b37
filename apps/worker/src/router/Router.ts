/**
 * Picks the backend for each compute step (seed 000): fill in-house first, spill overflow
 * to Modal, fall back to in-house when Modal fails. The in-house server is the one source of
 * truth for its capacity: the router never counts slots itself, it submits and reads the
 * answer (202, or 429 capacity with Retry-After), so several workers share it correctly.
 *
 *   in-house 202                      -> inhouse (inhouse_first)
 *   in-house 429 capacity             -> Modal   (inhouse_capacity; any 429, a gateway's rate limit too)
 *   in-house down (transport/5xx/breaker open) -> Modal (inhouse_down)
 *   in-house rejecting us (401/403/404/405, unknown_kind: its own setup) -> Modal (inhouse_rejected)
 *     ... Modal breaker open / failing / full / rejecting us (401/403/404/405: its own setup),
 *         or no Modal configured
 *         -> wait (Retry-After, at most `maxWaitMs` at a time) and try both again, within
 *            `waitBudgetMs`; then whichever takes it first (past the budget: NoBackendError)
 *
 * Every placement is reported to `onDecision` (persisted + counted) with its reason.
 * The request body is passed through untouched: routing never changes engine/model.
 *
 * An in-house POST that timed out may still have created the job (idempotency keys are per
 * backend, so Modal would run a second copy and the in-house one would hold a slot that
 * nobody polls). So when a step placed on Modal had an unanswered in-house POST, the router
 * chases it in the background: it looks the key up (`GET /v1/jobs?idempotency_key=&kind=`,
 * which submits nothing, so it never creates a job or takes a slot, and is not refused when
 * in-house is full) and cancels the job it finds. The chase goes on, within `waitBudgetMs`,
 * while a late POST could still create the job: while in-house answers
 * `submission_in_progress` (it is handling a POST with the key), while it cannot be reached,
 * and, for `lateSubmitMs` after the placement, while it answers `not_found` (a POST may still
 * be on its way to it). Only after a Modal placement: a step that is still waiting, or is
 * resumed after a lease loss, a shutdown or a failed attempt, keeps the same key, so in-house
 * hands it that very job. The same holds the other way round: a Modal POST that got no
 * answer (it timed out; Modal bills the copy it may have made) is chased on Modal, the same
 * way, when the step then goes to in-house.
 */
import type { Job, JobCreate } from "../contract.ts";
import { errorCode, HttpError, isBrokenCircuit, isMisconfigured, isSubmissionInProgress, isTransient } from "../client/errors.ts";
import type { BackendName, ComputeClient, SubmitTrace } from "../client/modal-client.ts";
import { log as rootLog, type Logger } from "../log.ts";
import { Metrics } from "../metrics.ts";
import { REASONS, type Reason } from "./reasons.ts";
import { isTooManyRequests } from "./tooManyRequests.ts";

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
  /** After a step with an unanswered in-house POST went to Modal: how long (ms) a `not_found`
   * from the in-house key lookup is not final, because that POST may still be on its way to
   * the server (one the server has started on is `submission_in_progress` instead).
   * Default: the per-attempt timeout of the backend being chased. */
  lateSubmitMs?: number;
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
  private readonly lateSubmitMs: number | undefined;
  private readonly reclaims = new Set<Promise<void>>();
  private readonly chasing = new Set<string>(); // `${backend} ${key}` being chased: one chase each
  /** For a key whose placement failed here: the backends a POST of it may have reached unanswered. */
  private readonly unansweredOn = new Map<string, BackendName[]>();
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
    this.lateSubmitMs = deps.lateSubmitMs;
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
    const inhouseTrace: SubmitTrace = { unanswered: false }; // an in-house POST may hold this key
    const modalTrace: SubmitTrace = { unanswered: false }; // a Modal POST may hold this key
    try {
      return await this.place(kind, input, idempotencyKey, opts, inhouseTrace, modalTrace);
    } catch (e) {
      // For `abandon`: only a backend a POST may have reached unanswered can hold a job for the key.
      this.remember(idempotencyKey, [...(inhouseTrace.unanswered ? ["inhouse" as const] : []), ...(modalTrace.unanswered ? ["modal" as const] : [])]);
      throw e;
    }
  }

  private async place(
    kind: JobCreate["kind"],
    input: Record<string, unknown>,
    idempotencyKey: string,
    opts: SubmitOptions,
    inhouseTrace: SubmitTrace,
    modalTrace: SubmitTrace,
  ): Promise<{ job: Job; decision: Decision }> {
    const { inhouse, modal } = this.backends;
    const started = Date.now();
    let waitedForInhouse = false; // in-house down with no Modal: logged once per step, not once per poll
    let waitReason: Reason | null = null;
    let modalNotBefore = 0; // Modal's Retry-After: it is not asked again before then
    for (;;) {
      opts.signal?.throwIfAborted();
      let inhouseFull: HttpError | null = null;
      let inhouseDown: unknown = null; // down, or rejecting us for its own setup
      let inhouseRejected = false;
      try {
        await opts.onAttempt?.("inhouse");
        const job = await inhouse.submit(kind, input, idempotencyKey, inhouseTrace, opts.signal);
        if (modalTrace.unanswered) this.reclaim("modal", kind, idempotencyKey, job.id, opts.context);
        return { job, decision: await this.decide({ backend: "inhouse", reason: waitReason ?? REASONS.inhouseFirst }, opts) };
      } catch (e) {
        if (isTooManyRequests(e)) inhouseFull = e; // capacity, or a gateway's rate limit
        else if (isTransient(e) || isBrokenCircuit(e)) inhouseDown = e;
        else if (isMisconfigured(e)) {
          // A wrong token or URL, an old deploy, a server not started with the kind: in-house's
          // own setup, not the request's fault (as for Modal below). Thrown, it failed every
          // render for good while Modal could take them; without Modal the step waits as when
          // in-house is down, so renders resume once someone fixes it.
          inhouseDown = e;
          inhouseRejected = true;
          this.metrics.backendRejections.inc({ backend: "inhouse", code: errorCode(e) });
          if (modal || !waitedForInhouse) {
            this.log.error(
              { event: "inhouse_rejected", status: e.status, code: errorCode(e), err: e.message, kind, ...opts.context },
              `in-house rejected the request (check COMPUTE_URL / COMPUTE_TOKEN and the kinds it serves): ${modal ? "routing to Modal" : "waiting for in-house"}`,
            );
          }
        } else throw e; // 400/409/422: the request is wrong wherever it goes
      }
      if (inhouseDown !== null) {
        if (modal) {
          // In-house is down: every step goes to Modal (a rejection was logged above).
          if (!inhouseRejected) this.log.warn({ event: "inhouse_down", code: errorCode(inhouseDown), kind, ...opts.context }, "in-house down: routing to Modal");
        } else if (!waitedForInhouse) {
          // No Modal: wait for in-house as when it is full (its breaker half-opens by itself),
          // within the wait budget. Failing at once made a brief outage of the compute plane
          // burn every render's attempts within minutes.
          waitedForInhouse = true;
          if (!inhouseRejected) this.log.warn({ event: "inhouse_down", code: errorCode(inhouseDown), kind, ...opts.context }, "in-house down and no Modal backend: waiting for in-house");
        }
      }

      // Spill (in-house full) or fall back (in-house down) to Modal. When Modal is open,
      // failing, full or rejects us, wait and try both again: failing the attempt instead
      // would burn the render's attempts within minutes of a brief overlap of the two.
      if (modal && Date.now() >= modalNotBefore) {
        try {
          await opts.onAttempt?.("modal");
          const job = await modal.submit(kind, input, idempotencyKey, modalTrace, opts.signal);
          const reason = inhouseRejected ? REASONS.inhouseRejected : inhouseDown !== null ? REASONS.inhouseDown : REASONS.inhouseCapacity;
          if (inhouseTrace.unanswered) this.reclaim("inhouse", kind, idempotencyKey, job.id, opts.context);
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
          inhouseDown === null ? "no capacity on any backend within the wait budget"
          : modal ? `in-house ${inhouseRejected ? "rejecting us" : "down"} (${errorCode(inhouseDown)}) and Modal unavailable (${waitReason}) for the whole wait budget`
          : `in-house ${inhouseRejected ? "rejecting us" : "down"} (${errorCode(inhouseDown)}) for the whole wait budget, and no Modal backend is configured`,
        );
      }
      // In-house full: its Retry-After. In-house down: poll it (its breaker fails fast while
      // open, and half-opens by itself) and let Modal's Retry-After run out.
      const hint = inhouseFull?.retryAfterMs ?? (modalNotBefore > Date.now() ? modalNotBefore - Date.now() : undefined);
      const wait = Math.min(this.maxWaitMs, Math.max(50, hint ?? this.maxWaitMs));
      await this.sleep(wait, opts.signal);
    }
  }

  /**
   * A step given up while it was being placed (its render was cancelled): a POST with its key
   * that got no answer may have made a job that nobody knows the id of, so nothing else
   * would ever cancel it. Chase the key on every backend, as after a placement elsewhere
   * (lookups only; a job found is cancelled).
   */
  abandon(kind: JobCreate["kind"], key: string, context?: Record<string, unknown>, opts: { onlyWhereUnanswered?: boolean } = {}): void {
    // `onlyWhereUnanswered`: every POST of the key was this router's (a step placed afresh in
    // this process), so only a backend where one went unanswered can hold a job. Otherwise (the
    // owner's DELETE, a cascade, a step resumed from another worker's POST) both are chased.
    const known = this.unansweredOn.get(key);
    this.unansweredOn.delete(key);
    const where = opts.onlyWhereUnanswered && known ? known : (["inhouse", "modal"] as const);
    for (const name of where) {
      if (this.backends[name]) this.reclaim(name, kind, key, null, context);
    }
  }

  private remember(key: string, backends: BackendName[]): void {
    const merged = new Set([...(this.unansweredOn.get(key) ?? []), ...backends]);
    this.unansweredOn.delete(key);
    this.unansweredOn.set(key, [...merged]);
    // Bounded: a key is normally taken back by `abandon` at once; a step handed over keeps its
    // key (no abandon), so the oldest entries go first.
    while (this.unansweredOn.size > 10_000) this.unansweredOn.delete(this.unansweredOn.keys().next().value!);
  }

  /**
   * A step resumed in `submitting` (its worker stopped between a POST and recording the job
   * id) and now placed on `placed.backend`: the stopped worker may have POSTed the same key
   * to the other backend too (every round tries in-house first; the step row names only the
   * last backend tried), and such a job would run with nobody polling it. Chase it there.
   */
  chaseResumed(kind: JobCreate["kind"], key: string, placed: { backend: BackendName; jobId: string }, context?: Record<string, unknown>): void {
    const other: BackendName = placed.backend === "inhouse" ? "modal" : "inhouse";
    if (this.backends[other]) this.reclaim(other, kind, key, placed.jobId, context);
  }

  /** Submissions still being chased (see the header). */
  get reclaiming(): number {
    return this.reclaims.size;
  }

  /**
   * Stop chasing unanswered submissions (shutdown) and wait for the chases to end: their HTTP
   * calls in flight are aborted, not waited out (a copy whose cancel is cut off is logged).
   */
  async close(): Promise<void> {
    this.closing.abort(new Error("router closed"));
    await Promise.allSettled([...this.reclaims]);
  }

  /**
   * A step was placed (`placedJobId`) on one backend after a POST with the same key got no
   * answer from the other one (`name`). Look the key up there until the answer is final (see
   * the header): a job found is a copy nobody polls, so cancel it. Never re-POSTs: that could
   * create the very copy it is looking for, and would be refused (429) whenever it is full.
   * Either way round: a Modal POST lost to a timeout bills a Modal copy just the same.
   */
  private reclaim(name: BackendName, kind: JobCreate["kind"], key: string, placedJobId: string | null, context?: Record<string, unknown>): void {
    const chaseId = `${name} ${key}`;
    if (this.chasing.has(chaseId)) return; // one chase finds and cancels the copy for every caller
    this.chasing.add(chaseId);
    const backend = this.client(name);
    const placedOn = placedJobId === null ? "nowhere (abandoned)" : name === "inhouse" ? "Modal" : "in-house";
    const signal = this.closing.signal;
    const fields = placedJobId === null
      ? { event: `${name}_abandoned`, kind, idempotency_key: key, ...context }
      : { event: `${name}_unanswered`, kind, idempotency_key: key, [`${name === "inhouse" ? "modal" : "inhouse"}_job_id`]: placedJobId, ...context };
    this.log.warn(fields, placedJobId === null
      ? `step abandoned while being placed: making sure ${name} runs no job for it`
      : `step placed on ${placedOn} after an unanswered ${name} submit: making sure ${name} runs no copy`);
    const started = Date.now();
    const settleMs = Math.min(this.lateSubmitMs ?? backend.options.attemptTimeoutMs, this.waitBudgetMs);
    let found = false; // a copy found: a cancel close() cuts off is logged by cancelCopy
    const chase = async (): Promise<void> => {
      for (let lookups = 1; ; lookups++) {
        signal.throwIfAborted();
        let last: unknown;
        try {
          // close() ends the call in flight too: it would otherwise run out its retry policy.
          const job = await backend.findByIdempotencyKey(key, kind, signal);
          if (job) {
            found = true;
            const live = job.status === "queued" || job.status === "running";
            const after = live ? await this.cancelCopy(backend, job.id, signal, fields) : job;
            this.log.warn(
              { ...fields, event: `${name}_duplicate_cancelled`, [`${name}_job_id`]: job.id, found_status: job.status, status: after.status, lookups },
              live ? `cancelled the ${name} copy of a step running on ${placedOn}` : `the ${name} copy of a step running on ${placedOn} had already ended`,
            );
            return;
          }
          if (Date.now() - started >= settleMs) {
            this.log.info({ ...fields, event: `${name}_no_duplicate`, lookups }, `${name} holds no job for the key`);
            return;
          }
          last = null; // not found, but the unanswered POST may still arrive: look again
        } catch (e) {
          if (!(isSubmissionInProgress(e) || isTransient(e) || isBrokenCircuit(e) || isTooManyRequests(e))) throw e;
          last = e; // still handling a POST with the key, cannot be reached yet, or asks for fewer requests
        }
        if (Date.now() - started > this.waitBudgetMs) {
          throw last ?? new Error(`${name} key lookup unresolved within the wait budget`);
        }
        // A backend asking for fewer requests (429 with Retry-After) is not asked again sooner,
        // but the wait ends with the budget (one last lookup then): a Retry-After of hours or
        // days parked the chase, silent, far past the budget that is meant to end it.
        const hint = last instanceof HttpError ? last.retryAfterMs : undefined;
        const budgetLeft = this.waitBudgetMs - (Date.now() - started) + 1;
        await this.sleep(Math.max(this.maxWaitMs, Math.min(hint ?? 0, budgetLeft)), signal);
      }
    };
    const p: Promise<void> = chase()
      .catch((e: unknown) => {
        if (signal.aborted) {
          // close() cut the chase before it knew: a copy may run on, nobody polling it.
          if (!found) this.log.warn({ ...fields, event: `${name}_duplicate_unchecked` }, `stopped before ${name} was checked for a copy of a step running on ${placedOn}: look the key up there (GET /v1/jobs?idempotency_key=)`);
          return;
        }
        this.log.error({ ...fields, event: `${name}_duplicate_unresolved`, code: errorCode(e), err: (e as Error)?.message }, `could not check ${name} for a copy of a step running on ${placedOn}`);
      })
      .finally(() => {
        this.reclaims.delete(p);
        this.chasing.delete(chaseId);
      });
    this.reclaims.add(p);
  }

  /** Cancel the copy a chase found; one whose cancel close() cut off is named, for an operator to cancel. */
  private async cancelCopy(backend: ComputeClient, jobId: string, signal: AbortSignal, fields: Record<string, unknown>): Promise<Job> {
    try {
      return await backend.cancel(jobId, signal);
    } catch (e) {
      if (signal.aborted) {
        this.log.warn(
          { ...fields, event: `${backend.name}_duplicate_abandoned`, [`${backend.name}_job_id`]: jobId },
          `stopped before the cancel of a ${backend.name} copy went through: it may run on (cancel it with DELETE /v1/jobs/{id})`,
        );
      }
      throw e;
    }
  }

  /** Why Modal cannot take the step now (the wait reason), or rethrows what would fail anywhere. */
  private modalUnavailable(me: unknown, kind: JobCreate["kind"], opts: SubmitOptions): Reason {
    let reason: Reason;
    if (isBrokenCircuit(me)) reason = REASONS.modalBreakerOpen;
    else if (isTooManyRequests(me)) reason = REASONS.modalCapacity;
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
