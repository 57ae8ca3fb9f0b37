/**
 * Keep-warm cron (node-cron): during business hours, renew a warm lease on each backend
 * (`POST /v1/warm {kinds, ttl_s}`) on every tick. The TTL outlives the tick interval, so
 * leases overlap while the worker runs; when it stops renewing, the lease expires and the
 * pool scales back to zero by itself. `tick()` is exposed so tests call it directly.
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

  start(): void {
    this.task ??= cron.schedule(this.opts.schedule, () => void this.tick(), { noOverlap: true } as never);
    void this.tick();
  }

  stop(): void {
    void this.task?.stop();
    this.task = null;
  }
}
