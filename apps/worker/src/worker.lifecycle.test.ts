/**
 * Worker lifecycle edges against a scripted compute plane (jobs that stay running on cue):
 * a graceful stop hands renders back, a fatal step failure cancels its sibling's job, a
 * claim caught by stop() is returned, and concurrent enqueues with one key agree.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Writable } from "node:stream";
import pino from "pino";
import type { Db } from "./db/db.ts";
import { migrate } from "./db/migrate.ts";
import { openPostgres } from "./db/postgres.ts";
import { buildApi } from "./http/server.ts";
import { log } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { claim, enqueue, getRender, listSteps } from "./queue/index.ts";
import { Router } from "./router/index.ts";
import { LocalPublisher } from "./storage/LocalPublisher.ts";
import type { Publisher } from "./storage/publisher.ts";
import { Worker } from "./worker.ts";
import { createTestDatabase } from "../test/support/postgres.ts";
import { ScriptedCompute } from "../test/support/scriptedCompute.ts";
import { tempDir } from "../test/support/tmp.ts";
import { until } from "../test/support/until.ts";
import { openMigratedPglite, SMALL_REQUEST } from "../test/support/migratedPglite.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

function worker(compute: ScriptedCompute, database: Db = db, workerId = "w1", publisher = {} as Publisher): Worker {
  const router = new Router({ inhouse: compute.client() });
  return new Worker(
    { db: database, router, publisher, metrics: new Metrics(), log, workerId, poll: { minIntervalMs: 20, maxIntervalMs: 50 } },
    { leaseSeconds: 30, heartbeatMs: 200, idlePollMs: 50 },
  );
}

async function onlyThis(id: string): Promise<void> {
  await db.query(`update render_jobs set status = 'cancelled' where id <> $1 and status in ('queued', 'running')`, [id]);
}

test("a graceful stop hands a running render back: queued, unlocked, the attempt refunded", async () => {
  const compute = new ScriptedCompute("inhouse", () => ({ status: "running" })); // jobs run until stopped
  const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 1 });
  await onlyThis(row.id);
  const w = worker(compute);
  w.start();
  await until("both steps running", async () => (await listSteps(db, row.id)).filter((s) => s.status === "running").length === 2, 10_000, 20);
  await w.stop(); // what main.ts does on SIGTERM
  const back = await getRender(db, row.id);
  assert.equal(back?.status, "queued");
  assert.equal(back?.locked_by, null);
  assert.equal(back?.attempts, 0, "a deploy is not a failed attempt (max_attempts is 1 here)");
  assert.equal(compute.calls.filter((c) => c.method === "DELETE").length, 0, "the compute jobs keep running for the next worker");
  const next = await claim(db, "w2", 30);
  assert.equal(next?.id, row.id, "claimable at once by another worker");
  await db.query(`update render_jobs set status = 'cancelled' where id = $1`, [row.id]);
});

test("a non-retryable align failure cancels the images job still running, and the attempt ends with both steps settled", async () => {
  const compute = new ScriptedCompute("inhouse", (kind) =>
    kind === "transcribe_audio"
      ? { status: "failed", error: { code: "audio_silent", message: "no speech", retryable: false } }
      : { status: "running" }); // the image batch is slow
  const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 3 });
  await onlyThis(row.id);
  const claimed = await claim(db, "w1", 30);
  await worker(compute).process(claimed!);
  const r = await getRender(db, row.id);
  assert.equal(r?.status, "failed");
  assert.equal(r?.last_error?.code, "audio_silent");
  const [images] = compute.submitted("generate_images");
  assert.equal(images?.status, "cancelled", "the sibling's compute job was cancelled, not left running");
  const steps = new Map((await listSteps(db, row.id)).map((s) => [s.step, s.status]));
  assert.equal(steps.get("images"), "cancelled");
  assert.equal(steps.get("align"), "failed");
});

test("an owner's DELETE seen by the poll before the heartbeat is a cancellation: steps cancelled, metric cancelled, no error log", async () => {
  const compute = new ScriptedCompute("inhouse", () => ({ status: "running" })); // jobs run until cancelled
  const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 3 });
  await onlyThis(row.id);
  const lines: Array<{ level: number; event?: string }> = [];
  const sink = new Writable({ write(chunk, _enc, cb) { for (const l of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(l)); cb(); } });
  const captured = pino({ level: "info" }, sink);
  const metrics = new Metrics();
  const router = new Router({ inhouse: compute.client() });
  // The heartbeat (the worker's own way of noticing a cancel) is far slower than the poll here,
  // as in production (10 s against ~1 s): the poll sees the compute job cancelled first.
  const w = new Worker(
    { db, router, publisher: {} as Publisher, metrics, log: captured, workerId: "w1", poll: { minIntervalMs: 20, maxIntervalMs: 50 } },
    { leaseSeconds: 300, heartbeatMs: 100_000, idlePollMs: 50 },
  );
  const api = buildApi({ db, router, metrics, log: captured, tokens: new Map([["tok", "o"]]) });
  try {
    const claimed = await claim(db, "w1", 300);
    const processing = w.process(claimed!);
    await until("both steps running", async () => (await listSteps(db, row.id)).filter((s) => s.status === "running").length === 2, 10_000, 20);
    const res = await api.inject({ method: "DELETE", url: `/v1/renders/${row.id}`, headers: { authorization: "Bearer tok" } });
    assert.equal(res.statusCode, 200, res.body);
    await processing;
    assert.equal((await getRender(db, row.id))?.status, "cancelled");
    const steps = new Map((await listSteps(db, row.id)).map((s) => [s.step, s]));
    assert.equal(steps.get("images")?.status, "cancelled");
    assert.equal(steps.get("align")?.status, "cancelled");
    const text = await metrics.text();
    assert.match(text, /canvascast_renders_total\{status="cancelled"\} 1/);
    assert.doesNotMatch(text, /canvascast_renders_total\{status="lost"\}/);
    assert.deepEqual(lines.filter((l) => l.level >= 50).map((l) => l.event), [], "nothing logged at error level");
  } finally {
    await api.close();
  }
});

test("a rendered video whose key breaks the key grammar fails the render at publish, not retried to dead", async () => {
  const store = tempDir("cc-badkey-");
  try {
    const compute = new ScriptedCompute("inhouse", (kind) =>
      kind === "transcribe_audio"
        ? { status: "succeeded", result: { words: [{ text: "hello", startMs: 0, endMs: 400 }, { text: "world", startMs: 400, endMs: 900 }], duration_ms: 1000 } }
        : { status: "succeeded", result: { video: { key: "artifacts/sha256/zz/not-a-digest.mp4", sha256: "c".repeat(64), size: 1, content_type: "video/mp4" }, durationMs: 1000 } });
    const request = { narration_audio: SMALL_REQUEST.narration_audio, scenes: [{ narration: "hello world", image: `artifacts/sha256/bb/${"b".repeat(64)}.png` }] };
    const { row } = await enqueue(db, { owner: "o", request, maxAttempts: 3 });
    await onlyThis(row.id);
    const claimed = await claim(db, "w1", 30);
    await worker(compute, db, "w1", new LocalPublisher(store.path, "http://127.0.0.1:1", () => "secret")).process(claimed!);
    const r = await getRender(db, row.id);
    assert.equal(r?.last_error?.code, "invalid_key");
    assert.equal(r?.status, "failed", "an invalid key is invalid on every attempt");
    assert.equal(r?.last_error?.retryable, false);
  } finally {
    store.cleanup();
  }
});

test("a render claimed while stop() runs is handed straight back, with nothing submitted", async () => {
  const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 3 });
  await onlyThis(row.id);
  let claimArrived!: () => void;
  const arrived = new Promise<void>((r) => (claimArrived = r));
  let letClaimFinish!: () => void;
  const gate = new Promise<void>((r) => (letClaimFinish = r));
  const slowClaims: Db = Object.assign(Object.create(db) as Db, {
    async query(text: string, params?: unknown[]) {
      if (/skip locked/.test(text)) {
        claimArrived();
        await gate; // the claim's round trip is still out when stop() begins
      }
      return db.query(text, params);
    },
  });
  const compute = new ScriptedCompute("inhouse", () => ({ status: "running" }));
  const w = worker(compute, slowClaims);
  w.start();
  await arrived;
  const stopping = w.stop();
  letClaimFinish();
  await stopping;
  const back = await getRender(db, row.id);
  assert.equal(back?.status, "queued");
  assert.equal(back?.locked_by, null);
  assert.equal(compute.jobs.size, 0, "no compute job was submitted after stop() began");
  await db.query(`update render_jobs set status = 'cancelled' where id = $1`, [row.id]);
});

test("concurrent enqueues with one idempotency key all get the same render (real Postgres)", async () => {
  const pg = createTestDatabase("cc_enqueue_race");
  const pdb = openPostgres(pg.url, 8);
  try {
    await migrate(pdb);
    for (let round = 0; round < 20; round++) {
      const key = `race-${round}`;
      const results = await Promise.all(Array.from({ length: 6 }, () => enqueue(pdb, { owner: "alice", request: SMALL_REQUEST, idempotencyKey: key })));
      assert.equal(new Set(results.map((r) => r.row.id)).size, 1, `round ${round}: one render for one key`);
      assert.equal(results.filter((r) => r.created).length, 1, `round ${round}: created once`);
    }
  } finally {
    await pdb.close();
    pg.drop();
  }
});
