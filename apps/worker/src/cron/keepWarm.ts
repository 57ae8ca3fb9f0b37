/**
 * Keep-warm cron (node-cron): during business hours, renew a warm lease on each backend
 * (`POST /v1/warm {kinds, ttl_s}`) on every tick. The TTL outlives the tick interval, so
 * leases overlap while the worker runs; when it stops renewing, the lease expires and the
 * pool scales back to zero by itself. `tick()` is exposed so tests call it directly.
 * WARM_CRON is read in the business hours' zone (WARM_TZ), like WARM_DAYS / WARM_HOURS.
 * At most one tick runs at a time: a slow backend must not pile up renewals.
 * On the night WARM_TZ's clocks go back, node-cron skips one pass of the repeated hour (no tick
 * for an hour plus the interval): documented with WARM_CRON in the README, not worked around.
 */
import cron from "node-cron";
import type { WarmRequest } from "../contract.ts";
import type { ComputeClient } from "../client/modal-client.ts";
import type { Logger } from "../log.ts";
import { inBusinessHours, type BusinessHours } from "./businessHours.ts";

export interface KeepWarmOptions {
  schedule: string;
  hours: BusinessHours;
  kinds: WarmRequest["kinds"];
  ttlS: number;
  minContainers?: number | undefined;
}

export class KeepWarm {
  private task: ReturnType<typeof cron.schedule> | null = null;
  /** The tick in flight, shared by the first tick and cron's: while it runs, no other starts. */
  private running: Promise<unknown> | null = null;

  constructor(
    private readonly clients: ComputeClient[],
    readonly opts: KeepWarmOptions,
    private readonly log: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {
    if (!cron.validate(opts.schedule)) throw new Error(`WARM_CRON ${JSON.stringify(opts.schedule)} is not a cron expression`);
  }

  /** One tick: renew leases if inside business hours. Returns the leases it renewed. */
  async tick(): Promise<Array<{ backend: string; lease_id: string; expires_at: string }>> {
    if (!inBusinessHours(this.now(), this.opts.hours)) return [];
    const out: Array<{ backend: string; lease_id: string; expires_at: string }> = [];
    await Promise.all(
      this.clients.map(async (c) => {
        try {
          const lease = await c.warm({
            kinds: this.opts.kinds,
            ttl_s: this.opts.ttlS,
            ...(c.name === "modal" && this.opts.minContainers !== undefined ? { min_containers: this.opts.minContainers } : {}),
          });
          out.push({ backend: c.name, lease_id: lease.id, expires_at: lease.expires_at });
          this.log.info({ event: "warm_lease", backend: c.name, lease: lease.id, expires_at: lease.expires_at }, "warm lease renewed");
        } catch (e) {
          this.log.warn({ event: "warm_failed", backend: c.name, err: String(e) }, "warm lease renewal failed");
        }
      }),
    );
    return out;
  }

  /** A tick unless one is running (then that one), for cron's ticks and the first, direct one alike. */
  private tickOnce(): Promise<unknown> {
    this.running ??= this.tick().finally(() => (this.running = null));
    return this.running;
  }

  start(): void {
    if (!this.task) {
      // tickOnce() keeps to one tick at a time (cron's and the first, direct one alike).
      this.task = cron.schedule(this.opts.schedule, () => this.tickOnce(), {
        timezone: this.opts.hours.timeZone,
        // A tick whose timer fires late (an event-loop stall, a paused container) still runs,
        // as long as the next one is not due yet: node-cron's default (1 s) dropped it for good,
        // and with a daily pre-warm one stall at 08:00 left the pools cold all day. A late
        // renewal is harmless: tick() checks business hours when it runs.
        missedExecutionTolerance: Infinity,
      });
      // Only a tick overtaken by the next one is missed now; say so in the JSON log (a listener
      // also keeps node-cron from printing its own plain-text warning).
      this.task.on("execution:missed", (ctx) => {
        this.log.warn({ event: "warm_tick_missed", due: ctx.date.toISOString() }, "keep-warm tick missed: the process was stalled past the next tick");
      });
    }
    this.warnIfLeasesLapse(this.task);
    void this.tickOnce();
  }

  /**
   * A TTL shorter than the gap between ticks leaves the pool cold until the next tick. Only a
   * warning: a daily "pre-warm at 08:00" is a reasonable schedule with any TTL.
   */
  private warnIfLeasesLapse(task: NonNullable<KeepWarm["task"]>): void {
    const runs = task.getNextRuns(3).map((d) => d.getTime());
    const gapS = Math.min(...runs.slice(1).map((t, i) => (t - runs[i]!) / 1000));
    if (this.opts.ttlS <= gapS) {
      this.log.warn({ event: "warm_ttl_short", ttl_s: this.opts.ttlS, tick_s: gapS }, "WARM_TTL_S is not longer than the WARM_CRON interval: leases lapse between ticks");
    }
  }

  stop(): void {
    void this.task?.stop();
    this.task = null;
  }
}
