/**
 * The sweep for compute jobs that renders which are over left running must not hammer a
 * compute plane that is down (one render tried per pass, not every one every interval) nor
 * try forever a job that has ended anyway (started longer ago than any job runs: given up on,
 * logged `orphan_cancel_given_up`, no cancel sent).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ComputeClient } from "./client/modal-client.ts";
import type { Db } from "./db/db.ts";
import { Metrics } from "./metrics.ts";
import { cancel, enqueue, listSteps, saveStep } from "./queue/index.ts";
import { Router } from "./router/index.ts";
import type { Publisher } from "./storage/publisher.ts";
import { Worker } from "./worker.ts";
import { ScriptedCompute } from "../test/support/scriptedCompute.ts";
import { until } from "../test/support/until.ts";
import { openMigratedPglite, SMALL_REQUEST } from "../test/support/migratedPglite.ts";
import { capturedLog } from "../test/support/capturedLog.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

/** A worker on `compute` (refusing every connection while `down`), its log lines captured; stopped after `body`. */
async function withSweeper(compute: ScriptedCompute, down: boolean, body: (lines: Record<string, unknown>[], deletes: string[]) => Promise<void>): Promise<void> {
  const { log, lines } = capturedLog();
  const deletes: string[] = []; // the job of every DELETE sent, reaching the server or not
  const f = ((url: string | URL | Request, init: RequestInit = {}) => {
    if (init.method === "DELETE") deletes.push(new URL(String(url)).pathname.split("/").pop()!);
    return down ? Promise.reject(new TypeError("fetch failed")) : compute.fetch(url, init);
  }) as typeof fetch;
  const client = new ComputeClient({ name: "inhouse", baseUrl: "http://inhouse.scripted", policy: { attemptTimeoutMs: 2000, initialDelayMs: 1, maxDelayMs: 5 } }, { metrics: new Metrics(), log, fetch: f });
  const router = new Router({ inhouse: client });
  // One pass in the test's time: the next is an hour away.
  const w = new Worker({ db, router, publisher: {} as Publisher, metrics: new Metrics(), log, workerId: "sweeper" }, { idlePollMs: 20, orphanSweepMs: 3600_000, orphanCancelMaxAgeMs: 3600_000 });
  w.start();
  try {
    await body(lines, deletes);
  } finally {
    await w.stop();
    await router.close();
  }
}

/** A cancelled render whose images step's job is still running (its cancel failed), ended an hour ago. */
async function orphan(compute: ScriptedCompute, startedAgoMs = 0): Promise<{ id: string; job: string }> {
  const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST });
  const key = `${row.id}:images:1`;
  const res = await compute.fetch("http://inhouse.scripted/v1/jobs", { method: "POST", body: JSON.stringify({ kind: "generate_images", input: {}, idempotency_key: key }) });
  const job = ((await res.json()) as { id: string }).id;
  await saveStep(db, row.id, "images", { status: "running", idempotency_key: key, backend: "inhouse", compute_job_id: job, started_at: new Date(Date.now() - startedAgoMs) });
  await cancel(db, row.id, "o");
  await db.query(`update render_jobs set finished_at = now() - interval '1 hour' where id = $1`, [row.id]);
  return { id: row.id, job };
}

test("with the compute plane down, a pass tries one render's cancel, not every one's", async () => {
  await db.query(`update render_steps set status = 'cancelled' where status in ('running', 'submitting')`);
  const compute = new ScriptedCompute("inhouse", () => ({ status: "running" }));
  const orphans = [await orphan(compute), await orphan(compute), await orphan(compute)];
  await withSweeper(compute, true, async (lines, deletes) => {
    await until("the pass over", async () => lines.some((l) => l.event === "orphan_cancel_failed"), 5_000, 10);
    assert.deepEqual([...new Set(deletes)], [orphans[0]!.job], "one failed try per pass, the oldest first");
  });
  // The one that failed went to the back: the next pass, the plane back, cancels all, that one last.
  await withSweeper(compute, false, async (lines, deletes) => {
    await until("all cancelled", async () => orphans.every((o) => compute.jobs.get(o.job)?.status === "cancelled"), 5_000, 10);
    assert.deepEqual(deletes, [orphans[1]!.job, orphans[2]!.job, orphans[0]!.job]);
    assert.equal(lines.filter((l) => l.event === "orphan_jobs_cancelled").length, 3);
  });
});

test("a job that started longer ago than any job runs is given up on: logged, no cancel sent", async () => {
  await db.query(`update render_steps set status = 'cancelled' where status in ('running', 'submitting')`);
  const compute = new ScriptedCompute("inhouse", () => ({ status: "running" }));
  const old = await orphan(compute, 2 * 3600_000);
  await withSweeper(compute, false, async (lines, deletes) => {
    const given = await until("given up", async () => lines.find((l) => l.event === "orphan_cancel_given_up"), 5_000, 10);
    assert.equal(given.render_id, old.id);
    assert.equal(given.compute_job_id, old.job);
    assert.deepEqual(deletes, []);
  });
  const step = (await listSteps(db, old.id)).find((s) => s.step === "images")!;
  assert.equal(step.status, "failed");
  assert.equal(step.error?.code, "orphan_cancel_given_up");
});
