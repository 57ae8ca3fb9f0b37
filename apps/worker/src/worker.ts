/**
 * The render worker loop: reap dead leases, claim a render (one statement, SKIP LOCKED),
 * run its pipeline while a heartbeat keeps the lease, then complete or fail it (backoff in
 * SQL). Up to `concurrency` renders run at once; each has an AbortController that the
 * heartbeat fires on cancel (cascading to compute jobs) or when the lease is lost. A render
 * reaped dead (its worker died on the last attempt) has its compute jobs cancelled. A render
 * that ends without a video (failed, dead, cancelled) keeps nothing published under its
 * owner's name: what an attempt copied before it ended so is removed (`unpublishEnded`);
 * a removal that fails stays marked in the database, where any worker's periodic sweep finds
 * it (`retryUnpublishes`), so a crash or a redeploy does not leave the files for good.
 * A cancel of compute jobs that failed (the compute plane down) or was abandoned at stop() is
 * found the same way, by any worker's periodic sweep (`retryOrphanCancels`).
 * stop() waits for that background work (cancels, removals) only so long (`drainTimeoutMs`):
 * a redeploy's drain is short, and the compute plane may not answer.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { claim, complete, completedWith, fail, failedWith, getRender, giveUpOrphan, heartbeat, listSteps, markUnpublishPending, orphanedSteps, pendingUnpublishes, reapDead, release, retryStatement, saveStep, touchOrphan, type OrphanStep, type RenderRow } from "./queue/index.ts";
import { failedForGood, RenderAborted, toJobError } from "./pipeline/errors.ts";
import { runPipeline } from "./pipeline/steps.ts";
import { cancelComputeJobs, mayStillRun } from "./pipeline/cancelComputeJobs.ts";
import { unpublishEnded } from "./pipeline/unpublish.ts";
import type { PipelineDeps, RenderContext } from "./pipeline/types.ts";
import { abortableSleep } from "./router/index.ts";
import { validateRenderRequest, ValidationError } from "./http/validate.ts";

export interface WorkerOptions {
  concurrency: number;
  leaseSeconds: number;
  heartbeatMs: number;
  idlePollMs: number;
  backoffBaseSeconds: number;
  /**
   * Random source in [0, 1) of the retry jitter: a retry waits 0.75..1.25 times the backoff
   * curve, so renders that failed together (an outage fails them all within a poll or two)
   * do not all come back, and resubmit, at the same instant. Injected by tests.
   */
  random: () => number;
  /**
   * How often the database is swept for removals of what ended renders published that are
   * still pending (the database or storage unreachable past their retries, a worker that
   * crashed before removing), in ms: left alone, the MP4 stayed for good.
   */
  unpublishRetryMs: number;
  /**
   * How long stop() waits for the background work of renders that are over (their compute
   * jobs' cancels, removals of what they published), in ms, like the API's close() for what a
   * DELETE started: a compute plane that takes the connection and never answers, or a breaker
   * that keeps retrying, held stop() with no bound, so a redeploy's SIGKILL cut the rest of
   * the stop. Past it the cancels still pending are abandoned, their jobs logged
   * (`cascade_abandoned`), and the removals left to the database's pending marks.
   */
  drainTimeoutMs: number;
  /**
   * How often the database is swept for compute jobs that renders which are over left running
   * (their cancel failed, the compute plane down, or was abandoned at a stop), in ms; a render
   * is swept only once it has been over this long (its own cancel has had its go). Left alone,
   * such a job ran, and billed, to its timeout.
   */
  orphanSweepMs: number;
  /**
   * How long after a step's job was submitted the sweep gives up cancelling it (logged
   * `orphan_cancel_given_up`), in ms: it has ended anyway. modal.toml's longest timeout is
   * render_video's 1800 s, times 1 + its retries (1), plus time waiting for a container or in
   * an in-house pool's queue: 6 h is well past any job.
   */
  orphanCancelMaxAgeMs: number;
}

export const DEFAULT_WORKER: WorkerOptions = { concurrency: 4, leaseSeconds: 60, heartbeatMs: 10_000, idlePollMs: 1000, backoffBaseSeconds: 2, random: Math.random, unpublishRetryMs: 30_000, drainTimeoutMs: 10_000, orphanSweepMs: 30_000, orphanCancelMaxAgeMs: 6 * 3600_000 };

/**
 * Removals handed over but not yet marked in the database (it was unreachable) are kept in
 * memory; past this many (a long outage), the oldest are given up on (logged).
 */
const MAX_UNPUBLISH_RETRIES = 10_000;

/** Pending removals one sweep reads from the database (longest pending first). */
const UNPUBLISH_BATCH = 100;

/** Orphaned steps one sweep reads from the database (least recently touched first). */
const ORPHAN_BATCH = 100;

/** A retry waits between 1 - JITTER and 1 + JITTER times the backoff curve. */
const JITTER = 0.25;

/** The periodic passes over the database that any worker makes. */
type Sweep = "unpublish_sweep" | "orphan_sweep";

export function newWorkerId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
}

export class Worker {
  private running = new Map<string, Promise<void>>();
  /** Background work for renders that are over (what it is, for the log if stop() gives up on it). */
  private readonly cascades = new Map<Promise<void>, { task: "cancel" | "unpublish" | Sweep; render_id?: string }>();
  /** Fired when stop() waits no longer for the cascades: the compute cancels still pending are abandoned. */
  private readonly drainController = new AbortController();
  /** Renders whose unpublish failed, to mark pending in the database at the next pass (oldest first). */
  private unpublishRetries = new Set<string>();
  /** What the last pass found pending in the database and left so (logged at stop). */
  private unpublishLeft: string[] = [];
  /** The periodic sweeps (`sweep`): when each may start next, and whether a pass of it runs. */
  private readonly sweeps = new Map<Sweep, { next: number; running: boolean }>();
  private stopped = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  /** A poke (or a slot freed) since the loop last began claiming: it must look again before sleeping. */
  private poked = false;
  private readonly stopController = new AbortController();
  readonly opts: WorkerOptions;

  constructor(readonly deps: PipelineDeps, opts: Partial<WorkerOptions> = {}) {
    this.opts = { ...DEFAULT_WORKER, ...opts };
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Nudge the loop (a render was just enqueued). */
  poke(): void {
    this.poked = true; // a poke during a claim: that claim may have looked before the render was there
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopController.abort(new RenderAborted("shutdown"));
    this.wake?.();
    await this.loop;
    await Promise.allSettled(this.running.values());
    await this.drainCascades();
    const unrecorded = [...this.unpublishRetries];
    const pending = [...new Set([...this.unpublishLeft, ...unrecorded])];
    if (unrecorded.length) {
      // Not in the database (it was unreachable): an operator can remove these by hand (renders/<owner>/<id>.*).
      this.deps.log.error({ event: "unpublish_pending", render_ids: pending, unrecorded }, "stopped with removals of what ended renders published still failing, some known only to this worker");
    } else if (pending.length) {
      this.deps.log.warn({ event: "unpublish_pending", render_ids: pending, unrecorded }, "stopped with removals of what ended renders published still failing: pending in the database, any worker's sweep tries them again");
    }
  }

  /**
   * Waits for the background work of renders that are over, at most drainTimeoutMs. Past it,
   * the compute cancels still pending are abandoned (each logs the jobs it leaves running,
   * `cascade_abandoned`), and removals still under way are logged (`unpublish_abandoned`) and
   * left: the database has them pending (marked when the render ended), for any worker's
   * sweep. None starts once the loop and the running renders are done, so the set only
   * shrinks while this waits.
   */
  private async drainCascades(): Promise<void> {
    if (!this.cascades.size) return;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), this.opts.drainTimeoutMs)));
    const done = await Promise.race([Promise.allSettled([...this.cascades.keys()]), timedOut]);
    clearTimeout(timer);
    if (done !== "timeout") return;
    this.drainController.abort(new RenderAborted("shutdown"));
    // The cancels end at once on the abort, having logged what they leave.
    await Promise.allSettled([...this.cascades].filter(([, c]) => c.task === "cancel").map(([p]) => p));
    // An orphan sweep left running is not waited for: its steps stay in the database for the next sweep.
    const left = [...this.cascades.values()].filter((c) => c.task !== "orphan_sweep");
    if (left.length) {
      const renderIds = left.flatMap((c) => (c.render_id ? [c.render_id] : []));
      this.deps.log.warn({ event: "unpublish_abandoned", tasks: left.map((c) => c.task), render_ids: renderIds }, "stopped without waiting for removals of what ended renders published: pending in the database, any worker's sweep tries them again");
    }
  }

  /**
   * Try again later to remove what a render that ended without a video published (the API's
   * DELETE hands its failed removals here too). The database already has most such renders
   * marked pending (it marks them when they end), but not a late copy's that a sweep had
   * cleared, so the next pass marks each again, and it is kept in memory only until then.
   */
  unpublishLater(renderId: string): void {
    this.unpublishRetries.delete(renderId);
    this.unpublishRetries.add(renderId);
    this.giveUpPastLimit();
  }

  /** Past MAX_UNPUBLISH_RETRIES pending, the oldest are dropped (logged). */
  private giveUpPastLimit(): void {
    while (this.unpublishRetries.size > MAX_UNPUBLISH_RETRIES) {
      const oldest = this.unpublishRetries.values().next().value!;
      this.unpublishRetries.delete(oldest);
      this.deps.log.error({ event: "unpublish_given_up", render_id: oldest }, "too many removals failing: no longer trying to remove what this render published");
    }
  }

  /**
   * At most once per unpublishRetryMs (counted from the end of the last pass), one pass in the
   * background: it marks pending in the database the removals handed over (`unpublishLater`),
   * then sweeps it for pending removals, longest pending first, one at a time (any worker's:
   * the one that failed may be gone). It stops at the first that fails again (or at stop()),
   * leaving it and the rest pending, the failed one marked again so that it goes to the back
   * (one removal storage always refuses does not hold up the others for good): during an outage each pass costs one failed try, not one
   * per pending render (up to thousands of queries and removals at once, every interval, and
   * a surge when it ended). Two workers sweeping at once may remove the same files twice,
   * which is harmless; a removal clears only the mark it read, so none is lost.
   */
  private retryUnpublishes(): void {
    const { db, log } = this.deps;
    this.sweep("unpublish_sweep", this.opts.unpublishRetryMs, async () => {
      const handed = [...this.unpublishRetries];
      this.unpublishRetries.clear();
      let recorded = 0;
      try {
        for (; recorded < handed.length && !this.stopped; recorded++) await markUnpublishPending(db, handed[recorded]!);
        const ids = this.stopped ? [] : await pendingUnpublishes(db, UNPUBLISH_BATCH);
        let i = 0;
        for (; i < ids.length && !this.stopped; i++) {
          const id = ids[i]!;
          let failure: { error: unknown } | null = null;
          try {
            const { status, removed, error } = await unpublishEnded(this.deps, id);
            if (error !== undefined) failure = { error };
            else if (removed.length) log.warn({ event: "render_unpublished", render_id: id, status, removed }, "removed what a render that ended without a video published");
          } catch (e) {
            failure = { error: e };
          }
          if (failure) {
            log.error({ event: "unpublish_failed", render_id: id, err: String(failure.error), pending: ids.length - i }, "could not remove what a render that did not complete published; trying again later");
            // To the back of the queue: one removal storage always refuses must not hold up
            // every other for good. During an outage each pass still costs one failed try.
            await markUnpublishPending(db, id).catch(() => false);
            break;
          }
        }
        this.unpublishLeft = ids.slice(i);
      } catch (e) {
        log.error({ event: "unpublish_sweep_failed", err: String(e), unrecorded: handed.length - recorded }, "could not read or mark removals pending in the database; trying again later");
      } finally {
        // Those not marked go back first: they are older than any handed over during the pass.
        this.unpublishRetries = new Set([...handed.slice(recorded), ...this.unpublishRetries]);
        this.giveUpPastLimit();
      }
    });
  }

  /**
   * At most once per orphanSweepMs (counted from the end of the last pass), one pass in the
   * background: it reads the steps of renders that are over whose job may still run (a cancel
   * that failed or was abandoned, any worker's), least recently touched first, and cancels them
   * render by render (`cancelComputeJobs` marks each step cancelled once its cancel went
   * through, so the render leaves the sweep). It stops at the first render whose cancel fails
   * again (or at stop()), that render's steps touched so that they go to the back (one job the
   * compute plane always refuses to cancel does not hold up the others): during an outage each
   * pass costs one failed try. A step whose job started more than orphanCancelMaxAgeMs ago is
   * given up on (`orphan_cancel_given_up`): it has ended anyway. Two workers sweeping at once may
   * cancel the same job twice, which is harmless.
   */
  private retryOrphanCancels(): void {
    const { db, log } = this.deps;
    const signal = this.drainController.signal;
    this.sweep("orphan_sweep", this.opts.orphanSweepMs, async () => {
      try {
        const rows = await orphanedSteps(db, { limit: ORPHAN_BATCH, endedForMs: this.opts.orphanSweepMs, maxAgeMs: this.opts.orphanCancelMaxAgeMs });
        const byRender = new Map<string, OrphanStep[]>(); // in the order read: least recently touched first
        for (const r of rows) byRender.set(r.render_id, [...(byRender.get(r.render_id) ?? []), r]);
        let done = 0;
        for (const [id, steps] of byRender) {
          if (this.stopped) break;
          done++;
          for (const s of steps.filter((s) => s.expired)) {
            if (await giveUpOrphan(db, s)) log.error({ event: "orphan_cancel_given_up", render_id: id, step: s.step, backend: s.backend, compute_job_id: s.compute_job_id, started_at: s.started_at }, "gave up cancelling the compute job of a render that is over: it started longer ago than any job runs");
          }
          const live = steps.filter((s) => !s.expired);
          if (!live.length) continue;
          await cancelComputeJobs(this.deps, id, live, signal); // a failure is logged there (cancel_cascade_failed)
          if (signal.aborted) break; // abandoned at stop(): logged there, the steps left for the next sweep
          const now = await listSteps(db, id);
          const left = live.filter((s) => now.some((n) => n.step === s.step && n.compute_job_id === s.compute_job_id && mayStillRun(n)));
          if (left.length) {
            for (const s of left) await touchOrphan(db, s);
            log.warn({ event: "orphan_cancel_failed", render_id: id, steps: left.map((s) => s.step), renders_left: byRender.size - done }, "could not cancel the compute jobs a render that is over left running; trying again later");
            break;
          }
          log.warn({ event: "orphan_jobs_cancelled", render_id: id, jobs: live.map((s) => ({ step: s.step, backend: s.backend, compute_job_id: s.compute_job_id })) }, "cancelled compute jobs a render that is over had left running");
        }
      } catch (e) {
        log.error({ event: "orphan_sweep_failed", err: String(e) }, "could not sweep for compute jobs that renders which are over left running; trying again later");
      }
    });
  }

  /**
   * Starts a pass of the sweep in the background (`pass`, which handles its own errors), unless
   * one runs or it is not due: at most once per `everyMs`, counted from the end of the last.
   */
  private sweep(task: Sweep, everyMs: number, pass: () => Promise<void>): void {
    const s = this.sweeps.get(task) ?? { next: 0, running: false };
    if (s.running || Date.now() < s.next) return;
    this.sweeps.set(task, s);
    s.running = true;
    this.background(pass().finally(() => {
      s.next = Date.now() + everyMs;
      s.running = false;
    }), { task });
  }

  private async run(): Promise<void> {
    const { db, log, workerId } = this.deps;
    const { random: _random, ...opts } = this.opts;
    log.info({ event: "worker_start", worker: workerId, ...opts }, "render worker started");
    while (!this.stopped) {
      let claimed: RenderRow | null = null;
      this.poked = false; // what this claim cannot see is poked again from here
      try {
        // Reaped with every slot busy too: a fleet that stays busy would otherwise leave a dead
        // worker's last attempt `running`, its compute jobs billing, until a slot frees.
        const running = [...this.running.keys()];
        const dead = await reapDead(db, workerId, running);
        for (const id of dead) {
          log.error({ event: "render_dead", render_id: id }, "render out of attempts after its lease expired");
          this.cascade(id); // not awaited: a slow or down compute plane must not hold up claiming
        }
        this.retryUnpublishes();
        this.retryOrphanCancels();
        if (this.running.size < this.opts.concurrency) claimed = await claim(db, workerId, this.opts.leaseSeconds, running);
      } catch (e) {
        log.error({ event: "claim_failed", err: String(e) }, "claiming failed; retrying");
      }
      if (claimed && this.stopped) {
        // stop() began while the claim was in flight: hand it straight back.
        await retryStatement(() => release(db, claimed.id, workerId)).catch(() => false);
        break;
      }
      if (claimed) {
        const row = claimed;
        const p: Promise<void> = this.process(row).finally(() => {
          this.running.delete(row.id); // one entry per render: claim never hands back one this worker runs
          this.poke(); // a slot is free
        });
        this.running.set(row.id, p);
        continue;
      }
      if (this.poked) continue; // poked while claiming: look again now, not after the idle poll
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        abortableSleep(this.opts.idlePollMs, this.stopController.signal).then(resolve, resolve);
      });
      this.wake = null;
    }
  }

  /** Work for a render that is over, in the background (`stop()` waits for it, within drainTimeoutMs). */
  private background(task: Promise<void>, what: { task: "cancel" | "unpublish" | Sweep; render_id?: string }): void {
    const c: Promise<void> = task.finally(() => this.cascades.delete(c));
    this.cascades.set(c, what);
  }

  /** Cancel the compute jobs of a render that ended for good, and remove what it published. */
  private cascade(renderId: string): void {
    this.background(cancelComputeJobs(this.deps, renderId, undefined, this.drainController.signal)
      .catch((e) => this.deps.log.warn({ event: "cancel_cascade_failed", render_id: renderId, err: String(e) }, "could not cancel the compute jobs of a render that is over")), { task: "cancel", render_id: renderId });
    this.unpublish(renderId);
  }

  /**
   * An attempt that did not complete: if the render ended without a video (failed, dead,
   * cancelled), what it or an earlier attempt published is removed (`unpublishEnded`).
   */
  private unpublish(renderId: string): void {
    const { log } = this.deps;
    const failed = (e: unknown) => {
      log.error({ event: "unpublish_failed", render_id: renderId, err: String(e) }, "could not check for, or remove, what a render that did not complete published");
      this.unpublishLater(renderId);
    };
    this.background(unpublishEnded(this.deps, renderId).then(({ status, removed, error }) => {
      if (error !== undefined) failed(error);
      else if (removed.length) log.warn({ event: "render_unpublished", render_id: renderId, status, removed }, "removed what a render that ended without a video published");
    }, failed), { task: "unpublish", render_id: renderId });
  }

  /**
   * The attempt published its video but the render was no longer this worker's to complete:
   * cancelled meanwhile (the owner asked before it was done, so what was published is removed:
   * a cancelled render keeps no MP4 under the owner's name), or its lease lost (the new holder
   * completes it, with the same keys: nothing is removed, unless the render ended without a
   * video meanwhile). The read is retried: taken for a lease lost, a cancelled render's MP4
   * stayed for good.
   */
  private async notCompleted(row: RenderRow): Promise<void> {
    const { db, log, metrics } = this.deps;
    let ended: Awaited<ReturnType<typeof unpublishEnded>> | null = null;
    try {
      ended = await unpublishEnded(this.deps, row.id);
    } catch (e) {
      log.error({ event: "unpublish_failed", render_id: row.id, err: String(e) }, "could not read a render no longer held to remove what it published");
      this.unpublishLater(row.id);
    }
    if (ended?.error !== undefined) {
      log.error({ event: "unpublish_failed", render_id: row.id, err: String(ended.error) }, "could not remove what a render no longer held published");
      this.unpublishLater(row.id);
    }
    if (ended?.status !== "cancelled") {
      log.warn({ event: "render_aborted", render_id: row.id, reason: "lease_lost", status: ended?.status ?? null, removed: ended?.removed ?? [] }, "render published, but no longer held by this worker");
      metrics.renders.inc({ status: "lease_lost" });
      return;
    }
    await saveStep(db, row.id, "publish", { status: "cancelled", finished_at: new Date() })
      .catch((e) => log.warn({ event: "step_save_failed", render_id: row.id, step: "publish", err: String(e) }, "could not mark the publish step of a cancelled render cancelled"));
    log.warn({ event: "render_aborted", render_id: row.id, reason: "cancelled", removed: ended.removed }, "render cancelled while it was published");
    metrics.renders.inc({ status: "cancelled" });
  }

  /** One claimed render: pipeline under a heartbeat, then complete/fail. */
  async process(row: RenderRow): Promise<void> {
    const { db, log, metrics, workerId } = this.deps;
    const controller = new AbortController();
    const onStop = () => controller.abort(new RenderAborted("shutdown"));
    this.stopController.signal.addEventListener("abort", onStop, { once: true });
    if (this.stopController.signal.aborted) onStop(); // stopping already: the listener would never fire
    const beat = setInterval(async () => {
      try {
        const hb = await heartbeat(db, row.id, workerId, this.opts.leaseSeconds);
        if (!hb) controller.abort(new RenderAborted("lease_lost"));
        else if (hb.cancel) controller.abort(new RenderAborted("cancelled"));
      } catch (e) {
        log.warn({ event: "heartbeat_failed", render_id: row.id, err: String(e) }, "heartbeat failed");
      }
    }, this.opts.heartbeatMs);
    const t0 = performance.now();
    log.info({ event: "render_claimed", render_id: row.id, owner: row.owner, attempt: row.attempts }, "render claimed");
    try {
      // Rows inserted directly (the product pipeline's other path) are checked here, like the API does.
      validateRenderRequest(row.request, row.owner); // a renders/ key must be the owner's own, as the API checks
      const steps = new Map((await listSteps(db, row.id)).map((s) => [s.step, s]));
      const ctx: RenderContext = { deps: this.deps, render: row, steps, signal: controller.signal };
      const result = await runPipeline(ctx);
      // A try that threw may have committed (its reply lost): the retry then finds nothing to
      // update, and only the row tells whether the success recorded is this attempt's.
      let unsure = false;
      const completed = await retryStatement(() => complete(db, row.id, workerId, result).catch((e) => { unsure = true; throw e; }));
      if (completed || (unsure && await retryStatement(() => completedWith(db, row.id, result)).catch(() => false))) {
        metrics.renders.inc({ status: "succeeded" });
        log.info({ event: "render_succeeded", render_id: row.id, seconds: (performance.now() - t0) / 1000, video: (result.video as { key: string }).key }, "render finished");
      } else {
        await this.notCompleted(row);
      }
    } catch (e) {
      // Aborted by the heartbeat or stop(), or a step found the render cancelled before the
      // heartbeat did (the owner's DELETE cancels the compute jobs directly).
      const aborted = controller.signal.aborted ? (controller.signal.reason as RenderAborted) : e instanceof RenderAborted ? e : null;
      const error = e instanceof ValidationError ? { code: e.code, message: `invalid request: ${e.message}`, retryable: false } : toJobError(e);
      // A non-retryable failure is the attempt's outcome even when a stop came while it was
      // being recorded: released, the render would run (and be paid for) again, to fail the same way.
      const final = e instanceof ValidationError || failedForGood(e);
      if (aborted instanceof RenderAborted && !final) {
        log.warn({ event: "render_aborted", render_id: row.id, reason: aborted.reason }, "render stopped");
        metrics.renders.inc({ status: aborted.reason });
        const released = aborted.reason === "shutdown" && await retryStatement(() => release(db, row.id, workerId)).catch(() => false);
        // Cancelled: the row already says so, and what a copy under way published is removed;
        // lease lost / shutdown: another worker resumes (removed only if the render ended meanwhile).
        if (!released) this.unpublish(row.id);
        return;
      }
      const spread = 1 - JITTER + 2 * JITTER * this.opts.random();
      // As for complete: a try that threw may have committed, and the retry then answers null.
      let unsure = false;
      const status = await retryStatement(() => fail(db, row.id, workerId, error, this.opts.backoffBaseSeconds, spread).catch((e) => { unsure = true; throw e; }))
        .then((s) => s ?? (unsure ? retryStatement(() => failedWith(db, row.id, error)) : null))
        .catch(() => null);
      if (status === null && (aborted?.reason === "cancelled" || (await getRender(db, row.id).catch(() => null))?.status === "cancelled")) {
        // Cancelled while this attempt was failing: the cancel is what happened to it.
        log.warn({ event: "render_aborted", render_id: row.id, reason: "cancelled", code: error.code, err: error.message }, "render stopped");
        metrics.renders.inc({ status: "cancelled" });
        this.unpublish(row.id);
        return;
      }
      if (status === null && aborted) {
        // Its lease was lost meanwhile: the failure was not recorded here, the new holder decides.
        log.warn({ event: "render_aborted", render_id: row.id, reason: aborted.reason, code: error.code, err: error.message }, "render stopped");
        metrics.renders.inc({ status: aborted.reason });
        this.unpublish(row.id);
        return;
      }
      if (status === "failed" || status === "dead") {
        // Over for good: a job the attempt left running has nobody to poll it now (a sibling step's
        // job a stop kept for the next worker, a job whose polls never got through). In the
        // background, as for a reaped render: a slow compute plane must not hold up stop().
        // What it published (a video copied before a caption file failed, a success it could
        // not record) is removed: a render that ended without a video keeps no MP4.
        this.cascade(row.id);
      } else if (status === null) {
        this.unpublish(row.id); // not recorded here: removed if the render ended without a video meanwhile
      }
      metrics.renders.inc({ status: status ?? "lost" });
      log.error({ event: "render_failed", render_id: row.id, status, code: error.code, err: error.message, retryable: error.retryable }, "render attempt failed");
    } finally {
      clearInterval(beat);
      this.stopController.signal.removeEventListener("abort", onStop);
    }
  }
}
