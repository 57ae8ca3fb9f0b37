/**
 * The statement that ends a worker's hold on a render (recording a failed attempt, handing it
 * back at shutdown) can itself fail once (a dropped connection, a failover). Its outcome must
 * still be recorded: a render left `running` under a lease no one renews is reclaimed once
 * the lease lapses as a new attempt, so a step that already failed for good runs (and is paid
 * for) again, and a render handed back on its last attempt goes `dead`.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Db } from "./db/db.ts";
import { migrate } from "./db/migrate.ts";
import { openPglite } from "./db/pglite.ts";
import { log } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { enqueue, getRender, reapDead } from "./queue/index.ts";
import { Router } from "./router/index.ts";
import type { Publisher } from "./storage/publisher.ts";
import { Worker } from "./worker.ts";
import { ScriptedCompute } from "../test/support/scriptedCompute.ts";
import { until } from "../test/support/until.ts";

let db: Db;
before(async () => {
  db = await openPglite();
  await migrate(db);
});
after(() => db.close());

test("a failure whose recording statement fails once is recorded all the same, not run again after the lease lapses", async () => {
  const compute = new ScriptedCompute("inhouse", () => ({ status: "failed", error: { code: "audio_silent", message: "no speech", retryable: false } }));
  const request = { narration_audio: `artifacts/sha256/aa/${"a".repeat(64)}.wav`, scenes: [{ narration: "hello world", image: `artifacts/sha256/bb/${"b".repeat(64)}.png` }] };
  const { row } = await enqueue(db, { owner: "o", request, maxAttempts: 3 });
  let broken = 1;
  const blip: Db = Object.assign(Object.create(db) as Db, {
    async query(text: string, params?: unknown[]) {
      if (broken > 0 && /when not \$4::boolean then 'failed'/.test(text)) { // fail()'s statement
        broken--;
        throw new Error("Connection terminated unexpectedly"); // what node-postgres says when the server goes away
      }
      return db.query(text, params);
    },
  });
  const w = new Worker(
    { db: blip, router: new Router({ inhouse: compute.client() }), publisher: {} as Publisher, metrics: new Metrics(), log, workerId: "w1", poll: { minIntervalMs: 10, maxIntervalMs: 20 } },
    { leaseSeconds: 0.3, heartbeatMs: 100, idlePollMs: 20 }, // a short lease: reclaimed soon if left running
  );
  w.start();
  try {
    await until("the render ended", async () => ["failed", "dead"].includes((await getRender(db, row.id))?.status ?? ""), 20_000, 20);
    const r = await getRender(db, row.id);
    assert.equal(r?.status, "failed");
    assert.equal(r?.last_error?.code, "audio_silent");
    assert.equal(broken, 0, "the recording statement was failed once (else this test tests nothing)");
    assert.equal(compute.submitted("transcribe_audio").length, 1, `the failed step ran once, not again (attempts ${r?.attempts})`);
  } finally {
    await w.stop();
  }
});

test("a hand-back at shutdown whose statement fails once still hands the render back: not dead after the lease lapses", async () => {
  const compute = new ScriptedCompute("inhouse", () => ({ status: "running" })); // runs until the worker stops
  const request = { narration_audio: `artifacts/sha256/aa/${"a".repeat(64)}.wav`, scenes: [{ narration: "hello world", image: `artifacts/sha256/bb/${"b".repeat(64)}.png` }] };
  const { row } = await enqueue(db, { owner: "o", request, maxAttempts: 1 }); // its last attempt
  let broken = 1;
  const blip: Db = Object.assign(Object.create(db) as Db, {
    async query(text: string, params?: unknown[]) {
      if (broken > 0 && /attempts = greatest\(attempts - 1, 0\)/.test(text)) {
        broken--;
        throw new Error("Connection terminated unexpectedly");
      }
      return db.query(text, params);
    },
  });
  const w = new Worker(
    { db: blip, router: new Router({ inhouse: compute.client() }), publisher: {} as Publisher, metrics: new Metrics(), log, workerId: "w1", poll: { minIntervalMs: 10, maxIntervalMs: 20 } },
    { leaseSeconds: 0.3, heartbeatMs: 100, idlePollMs: 20 },
  );
  w.start();
  await until("the align job running", async () => compute.submitted("transcribe_audio").length === 1, 10_000, 10);
  await w.stop();
  assert.equal(broken, 0, "the hand-back statement failed once");
  await until("no live lease on it", async () => (await db.query(`select 1 from render_jobs where id = $1 and locked_until > now()`, [row.id])).length === 0, 10_000, 20);
  await reapDead(db); // what any worker's loop does once the lease has lapsed
  const r = await getRender(db, row.id);
  assert.deepEqual([r?.status, r?.attempts, r?.locked_by], ["queued", 0, null], "handed back, its attempt refunded");
});
