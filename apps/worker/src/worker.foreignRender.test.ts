/**
 * A render row inserted directly (the product pipeline's path past the API, which RLS lets an
 * owner do) is checked at claim as the API checks it: a renders/<owner>/… input must be the
 * row owner's own published render, never another owner's (the compute plane reads renders/
 * keys from the store with the service role).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ComputeClient } from "./client/modal-client.ts";
import type { Db } from "./db/db.ts";
import { log } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { claim, enqueue, getRender } from "./queue/index.ts";
import { Router } from "./router/index.ts";
import type { Publisher } from "./storage/publisher.ts";
import { Worker } from "./worker.ts";
import { openMigratedPglite, SMALL_REQUEST } from "../test/support/migratedPglite.ts";

let db: Db;
let worker: Worker;

before(async () => {
  db = await openMigratedPglite();
  const metrics = new Metrics();
  // A compute plane nobody listens on: a render that passes the check fails its first step retryably.
  const inhouse = new ComputeClient({ name: "inhouse", baseUrl: "http://127.0.0.1:9", policy: { maxAttempts: 1, initialDelayMs: 1, maxDelayMs: 1 } }, { metrics });
  const router = new Router({ inhouse }, { metrics, waitBudgetMs: 0 });
  worker = new Worker({ db, router, publisher: {} as Publisher, metrics, log, workerId: "w1" }, {});
});
after(async () => {
  await db?.close();
});

async function runOnce(owner: string, narration: string) {
  const { row } = await enqueue(db, { owner, request: { ...SMALL_REQUEST, narration_audio: narration } });
  const claimed = await claim(db, "w1", 60);
  assert.equal(claimed?.id, row.id);
  await worker.process(claimed!);
  return (await getRender(db, row.id))!;
}

test("a directly inserted render naming another owner's published render fails for good as foreign_reference", async () => {
  const done = await runOnce("alice", "renders/bob/3f1c9d2e-7a6b-4c1d-9e8f-0a1b2c3d4e5f.mp4");
  assert.equal(done.status, "failed");
  assert.equal((done.last_error as { code: string }).code, "foreign_reference");
});

test("its owner's own published render passes the check (the attempt goes on to the compute steps)", async () => {
  const done = await runOnce("carol", "renders/carol/3f1c9d2e-7a6b-4c1d-9e8f-0a1b2c3d4e5f.mp4");
  assert.notEqual((done.last_error as { code: string } | null)?.code, "foreign_reference");
  assert.notEqual((done.last_error as { code: string } | null)?.code, "validation_error");
});
