/**
 * A render that ended for good has its compute jobs cancelled in the background, but a cancel
 * that failed (the compute plane down) was never tried again: the render's step stayed
 * `running` and its job ran (and billed) to its timeout, as nothing on the compute plane reaps
 * a job nobody polls. Any worker's periodic sweep now finds such steps and cancels their jobs.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ComputeClient } from "./client/modal-client.ts";
import type { Db } from "./db/db.ts";
import { log } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { claim, enqueue, getRender, listSteps, saveStep } from "./queue/index.ts";
import { Router } from "./router/index.ts";
import type { Publisher } from "./storage/publisher.ts";
import { Worker, type WorkerOptions } from "./worker.ts";
import { ScriptedCompute } from "../test/support/scriptedCompute.ts";
import { until } from "../test/support/until.ts";
import { openMigratedPglite, SMALL_REQUEST } from "../test/support/migratedPglite.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

/** The compute plane's client, through a link that refuses every connection while `down()` says so. */
function clientOf(compute: ScriptedCompute, down: () => boolean): ComputeClient {
  const f = ((url: string | URL | Request, init?: RequestInit) => (down() ? Promise.reject(new TypeError("fetch failed")) : compute.fetch(url, init))) as typeof fetch;
  return new ComputeClient({ name: "inhouse", baseUrl: "http://inhouse.scripted", policy: { attemptTimeoutMs: 2000, initialDelayMs: 1, maxDelayMs: 5 } }, { metrics: new Metrics(), log, fetch: f });
}

const OPTIONS: Partial<WorkerOptions> = { leaseSeconds: 30, heartbeatMs: 1000, idlePollMs: 20, unpublishRetryMs: 20, drainTimeoutMs: 2000, orphanSweepMs: 20 };

test("a render whose compute job could not be cancelled when it ended has it cancelled by a worker started later", async () => {
  const compute = new ScriptedCompute("inhouse", () => ({ status: "running" }));
  const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 1 });
  await db.query(`update render_jobs set status = 'cancelled' where id <> $1 and status in ('queued', 'running')`, [row.id]);
  // A worker died on the last attempt with the images job running, its lease already past.
  await claim(db, "dead-worker", -1);
  const key = `${row.id}:images:1`;
  const res = await compute.fetch("http://inhouse.scripted/v1/jobs", { method: "POST", body: JSON.stringify({ kind: "generate_images", input: {}, idempotency_key: key }) });
  const job = ((await res.json()) as { id: string }).id;
  await saveStep(db, row.id, "images", { status: "running", step_attempt: 1, idempotency_key: key, backend: "inhouse", compute_job_id: job, started_at: new Date() });

  // The worker that reaps it dead cannot reach the compute plane: its cancel fails.
  const downRouter = new Router({ inhouse: clientOf(compute, () => true) });
  const first = new Worker({ db, router: downRouter, publisher: {} as Publisher, metrics: new Metrics(), log, workerId: "w1" }, OPTIONS);
  first.start();
  try {
    await until("the render reaped", async () => (await getRender(db, row.id))?.status === "dead", 10_000, 10);
  } finally {
    await first.stop();
    await downRouter.close();
  }
  assert.equal(compute.jobs.get(job)?.status, "running", "premise: the first cascade could not cancel the job");

  // Later, with the compute plane back, another worker starts: nothing else will ever poll that job.
  const router = new Router({ inhouse: clientOf(compute, () => false) });
  const second = new Worker({ db, router, publisher: {} as Publisher, metrics: new Metrics(), log, workerId: "w2" }, OPTIONS);
  second.start();
  try {
    await until("the orphaned job cancelled", async () => compute.jobs.get(job)?.status === "cancelled", 5_000, 10)
      .catch(() => assert.equal(compute.jobs.get(job)?.status, "cancelled", "the job of a dead render runs on to its timeout"));
    await until("its step marked cancelled", async () => (await listSteps(db, row.id)).find((s) => s.step === "images")?.status === "cancelled", 5_000, 10);
  } finally {
    await second.stop();
    await router.close();
  }
});
