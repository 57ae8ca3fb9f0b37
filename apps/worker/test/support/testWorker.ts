/**
 * A `Worker` as the worker's lifecycle tests run it: on a scripted compute plane, with short
 * test timings, its JSON log lines captured, stopped (and its router closed) when the test's
 * body is done. And the waits those tests share.
 */
import type { Db } from "../../src/db/db.ts";
import { Metrics } from "../../src/metrics.ts";
import { getRender } from "../../src/queue/index.ts";
import type { RenderRow } from "../../src/queue/types.ts";
import { Router } from "../../src/router/index.ts";
import type { Publisher } from "../../src/storage/publisher.ts";
import { Worker, type WorkerOptions } from "../../src/worker.ts";
import { ScriptedCompute } from "./scriptedCompute.ts";
import { until } from "./until.ts";
import { capturedLog } from "./capturedLog.ts";

/** Short timings: a lease that does not lapse during a test, a heartbeat and a poll that do not slow it, no retry backoff. */
export const TEST_WORKER_OPTIONS: Partial<WorkerOptions> = { leaseSeconds: 30, heartbeatMs: 200, idlePollMs: 20, backoffBaseSeconds: 0 };

export interface TestWorkerSetup {
  db: Db;
  publisher: Publisher;
  /** Default: every job it is given stays running. */
  compute?: ScriptedCompute;
  workerId?: string;
  /** On top of TEST_WORKER_OPTIONS. */
  options?: Partial<WorkerOptions>;
}

export interface RunningWorker {
  worker: Worker;
  metrics: Metrics;
  /** Every line it logged (level info and up), parsed. */
  lines: Record<string, unknown>[];
}

/** Starts a worker, runs `body`, then stops the worker and closes its router, whatever `body` did. */
export async function withWorker(setup: TestWorkerSetup, body: (run: RunningWorker) => Promise<void>): Promise<void> {
  const { log, lines } = capturedLog();
  const metrics = new Metrics();
  const compute = setup.compute ?? new ScriptedCompute("inhouse", () => ({ status: "running" }));
  const router = new Router({ inhouse: compute.client() });
  const worker = new Worker({ db: setup.db, router, publisher: setup.publisher, metrics, log, workerId: setup.workerId ?? "w1" }, { ...TEST_WORKER_OPTIONS, ...setup.options });
  worker.start();
  try {
    await body({ worker, metrics, lines });
  } finally {
    await worker.stop();
    await router.close();
  }
}

const ENDED = ["succeeded", "failed", "dead", "cancelled"];

/** Waits until the render has ended (succeeded, failed, dead or cancelled); answers its row. */
export function renderEnded(db: Db, id: string): Promise<RenderRow> {
  return until("the render over", async () => {
    const r = await getRender(db, id);
    return r && ENDED.includes(r.status) ? r : null;
  }, 20_000, 10);
}

/** Waits until the worker counted a render's end; answers what it counted, as [status, count] pairs. */
export async function rendersCounted(metrics: Metrics): Promise<Array<[unknown, number]>> {
  const values = await until("its attempt counted", async () => {
    const counted = (await metrics.renders.get()).values.filter((v) => v.value > 0);
    return counted.length ? counted : null;
  }, 20_000, 20);
  return values.map((v) => [v.labels.status, v.value]);
}
