/**
 * A step whose key hands back a job already cancelled (a copy one of the worker's chases took
 * for an orphan, replayed by the key): this attempt's work never started, so the step fails
 * retryably and the render goes back to the queue for a new attempt with a new key, rather
 * than ending `failed` for good over a job nobody asked it to give up.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Db } from "./db/db.ts";
import { log } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { claim, enqueue, getRender, listSteps } from "./queue/index.ts";
import { Router } from "./router/index.ts";
import type { Publisher } from "./storage/publisher.ts";
import { Worker } from "./worker.ts";
import { ScriptedCompute } from "../test/support/scriptedCompute.ts";
import { openMigratedPglite, SMALL_REQUEST } from "../test/support/migratedPglite.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

test("a step whose key hands back an already-cancelled job fails retryably: the render is queued again, not failed", async () => {
  // The images job is found cancelled (as the compute plane reports a cancel: retryable false); the align job succeeds (a retryable failure lets the sibling finish).
  const compute = new ScriptedCompute("inhouse", (kind) => (kind === "generate_images" ? { status: "cancelled", error: { code: "cancelled", message: "cancelled by request", retryable: false } } : { status: "succeeded", result: { words: [] } }));
  const router = new Router({ inhouse: compute.client() });
  const w = new Worker(
    { db, router, publisher: {} as Publisher, metrics: new Metrics(), log, workerId: "w1", poll: { minIntervalMs: 5, maxIntervalMs: 10 } },
    { leaseSeconds: 30, heartbeatMs: 10_000 },
  );
  const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 3 });
  await db.query(`update render_jobs set status = 'cancelled' where id <> $1 and status in ('queued', 'running')`, [row.id]);
  try {
    await w.process((await claim(db, "w1", 30))!);
    const r = await getRender(db, row.id);
    assert.equal(r?.status, "queued", JSON.stringify(r?.last_error));
    assert.deepEqual({ code: r?.last_error?.code, retryable: r?.last_error?.retryable }, { code: "cancelled", retryable: true });
    const images = (await listSteps(db, row.id)).find((s) => s.step === "images");
    assert.equal(images?.status, "failed", "its next attempt submits with a new key");
  } finally {
    await router.close();
  }
});
