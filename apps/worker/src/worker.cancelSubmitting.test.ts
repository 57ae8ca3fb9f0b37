/**
 * A render cancelled while its steps are still being placed: the in-house POSTs timed out
 * (no answer, no job id on the step row, so the owner's DELETE has nothing to cascade to),
 * yet the server got them and made the jobs. The cancel must still stop those jobs.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Db } from "./db/db.ts";
import { log } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { cancel, claim, enqueue, getRender, listSteps } from "./queue/index.ts";
import { Router } from "./router/index.ts";
import type { Publisher } from "./storage/publisher.ts";
import { Worker } from "./worker.ts";
import { lossyClient, ScriptedCompute } from "../test/support/scriptedCompute.ts";
import { until } from "../test/support/until.ts";
import { openMigratedPglite, SMALL_REQUEST } from "../test/support/migratedPglite.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

/** In-house behind a lossy link: every POST reaches the server (it makes the job), no answer comes back. */
const lossy = (server: ScriptedCompute) =>
  lossyClient(server, { attemptTimeoutMs: 50, maxAttempts: 1, initialDelayMs: 5, maxDelayMs: 10, minimumRps: 1e6 }).client;

test("cancelling a render whose submissions got no answer cancels the jobs those submissions made", async () => {
  const compute = new ScriptedCompute("inhouse", () => ({ status: "running" }));
  const router = new Router({ inhouse: lossy(compute) }, { maxWaitMs: 20, lateSubmitMs: 0 });
  const w = new Worker(
    { db, router, publisher: {} as Publisher, metrics: new Metrics(), log, workerId: "w1", poll: { minIntervalMs: 5, maxIntervalMs: 10 } },
    { leaseSeconds: 30, heartbeatMs: 50 },
  );
  const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 3 });
  await db.query(`update render_jobs set status = 'cancelled' where id <> $1 and status in ('queued', 'running')`, [row.id]);
  try {
    const processing = w.process((await claim(db, "w1", 30))!);
    await until("both steps' jobs made by unanswered POSTs", async () => compute.jobs.size === 2, 10_000, 5);
    const steps = await listSteps(db, row.id);
    assert.ok(steps.every((s) => s.status === "submitting" && s.compute_job_id === null), "no job id known to the worker");
    assert.equal((await cancel(db, row.id, "o"))?.status, "cancelled");
    await processing;
    assert.equal((await getRender(db, row.id))?.status, "cancelled");
    await until("the orphaned jobs cancelled", async () => [...compute.jobs.values()].every((j) => j.status === "cancelled"), 10_000, 5)
      .catch(() => assert.deepEqual([...compute.jobs.values()].map((j) => j.status), ["cancelled", "cancelled"], "the cancel stopped every compute job"));
  } finally {
    await router.close();
  }
});

test("a step whose placement failed (no backend within the budget) leaves no job behind for its next attempt to duplicate", async () => {
  const compute = new ScriptedCompute("inhouse", () => ({ status: "running" }));
  // No wait budget: the first round without an answer fails the submission (NoBackendError, retryable).
  const router = new Router({ inhouse: lossy(compute) }, { maxWaitMs: 20, lateSubmitMs: 0, waitBudgetMs: 0 });
  const w = new Worker(
    { db, router, publisher: {} as Publisher, metrics: new Metrics(), log, workerId: "w1", poll: { minIntervalMs: 5, maxIntervalMs: 10 } },
    { leaseSeconds: 30, heartbeatMs: 10_000 },
  );
  const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 3 });
  await db.query(`update render_jobs set status = 'cancelled' where id <> $1 and status in ('queued', 'running')`, [row.id]);
  try {
    await w.process((await claim(db, "w1", 30))!);
    const r = await getRender(db, row.id);
    assert.equal(r?.status, "queued", "retryable: the render will run again");
    assert.equal(r?.last_error?.code, "no_backend");
    const steps = await listSteps(db, row.id);
    assert.ok(steps.every((s) => s.status === "failed"), "its next attempt submits with a new key");
    assert.equal(compute.jobs.size, 2, "the unanswered POSTs did make jobs");
    await until("the jobs of the failed placement cancelled", async () => [...compute.jobs.values()].every((j) => j.status === "cancelled"), 10_000, 5)
      .catch(() => assert.deepEqual([...compute.jobs.values()].map((j) => j.status), ["cancelled", "cancelled"], "no job of the old key runs on beside the next attempt's"));
  } finally {
    await router.close();
  }
});
