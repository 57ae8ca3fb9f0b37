/**
 * A worker that died on a render's last attempt leaves its compute jobs running. When another
 * worker declares the render dead (its lease expired, no attempt left), nobody will ever poll
 * those jobs again: they must be cancelled, not left to run (and bill) to the end.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Db } from "./db/db.ts";
import { log } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { claim, enqueue, getRender, saveStep } from "./queue/index.ts";
import { Router } from "./router/index.ts";
import type { Publisher } from "./storage/publisher.ts";
import { Worker } from "./worker.ts";
import { ScriptedCompute } from "../test/support/scriptedCompute.ts";
import { until } from "../test/support/until.ts";
import { openMigratedPglite, SMALL_REQUEST } from "../test/support/migratedPglite.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

test("a render reaped dead after its worker died on the last attempt has its running compute jobs cancelled", async () => {
  const compute = new ScriptedCompute("inhouse", () => ({ status: "running" }));
  const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 1 });
  await db.query(`update render_jobs set status = 'cancelled' where id <> $1 and status in ('queued', 'running')`, [row.id]);
  // The dead worker's last attempt: both steps' jobs running, its lease already in the past.
  await claim(db, "dead-worker", -1);
  const jobs: string[] = [];
  for (const [step, kind] of [["images", "generate_images"], ["align", "transcribe_audio"]] as const) {
    const key = `${row.id}:${step}:1`;
    const res = await compute.fetch("http://inhouse.scripted/v1/jobs", { method: "POST", body: JSON.stringify({ kind, input: {}, idempotency_key: key }) });
    const id = ((await res.json()) as { id: string }).id;
    jobs.push(id);
    await saveStep(db, row.id, step, { status: "running", step_attempt: 1, idempotency_key: key, backend: "inhouse", compute_job_id: id });
  }
  const router = new Router({ inhouse: compute.client() });
  const w = new Worker({ db, router, publisher: {} as Publisher, metrics: new Metrics(), log, workerId: "w2" }, { leaseSeconds: 30, heartbeatMs: 1000, idlePollMs: 20 });
  w.start();
  try {
    await until("the render reaped", async () => (await getRender(db, row.id))?.status === "dead", 10_000, 10);
    await until("its compute jobs cancelled", async () => jobs.every((id) => compute.jobs.get(id)?.status === "cancelled"), 5_000, 10)
      .catch(() => assert.deepEqual(jobs.map((id) => compute.jobs.get(id)?.status), ["cancelled", "cancelled"], "no job of a dead render runs on"));
  } finally {
    await w.stop();
    await router.close();
  }
});
