/**
 * A worker must never run one render twice at once. Its lease on a render lapsed (heartbeats
 * that did not land), another worker took the render and failed that attempt, and the render
 * is queued again while the first worker is still running its own attempt (it has not
 * heartbeat since). If the first worker claimed it now, its old attempt's next heartbeat would
 * succeed (same worker id), so both attempts would drive the render, and the old one's end
 * would drop the new one from the worker's books.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ComputeClient } from "./client/modal-client.ts";
import type { Db } from "./db/db.ts";
import { log } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { claim, enqueue, fail, getRender, listSteps } from "./queue/index.ts";
import { Router } from "./router/index.ts";
import type { Publisher } from "./storage/publisher.ts";
import { Worker } from "./worker.ts";
import { ScriptedCompute } from "../test/support/scriptedCompute.ts";
import { until } from "../test/support/until.ts";
import { openMigratedPglite, SMALL_REQUEST } from "../test/support/migratedPglite.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

test("a worker does not claim again a render it is still running, even once it is queued again", async () => {
  const compute = new ScriptedCompute("inhouse", () => ({ status: "running" }));
  const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 5 });
  await db.query(`update render_jobs set status = 'cancelled' where id <> $1 and status in ('queued', 'running')`, [row.id]);
  let claims = 0;
  const counted: Db = Object.assign(Object.create(db) as Db, {
    async query(text: string, params?: unknown[]) {
      const r = await db.query(text, params);
      if (/skip locked/.test(text)) claims++;
      return r;
    },
  });
  // A long job with no progress to report: its updated_at stays put, so w1's polls write nothing
  // (a write would find the lease gone) and only its heartbeat, far off, would tell it.
  const quiet = (async (url: string | URL | Request, init: RequestInit = {}) => {
    const res = await compute.fetch(url, init);
    if ((init.method ?? "GET") !== "GET" || !/^\/v1\/jobs\/./.test(new URL(String(url)).pathname)) return res;
    const job = (await res.json()) as Record<string, unknown>;
    return new Response(JSON.stringify({ ...job, updated_at: "2026-01-01T00:00:00.000Z" }), { status: res.status, headers: { "content-type": "application/json" } });
  }) as typeof fetch;
  const router = new Router({ inhouse: new ComputeClient({ name: "inhouse", baseUrl: "http://inhouse.scripted" }, { metrics: new Metrics(), log, fetch: quiet }) });
  const w1 = new Worker(
    { db: counted, router, publisher: {} as Publisher, metrics: new Metrics(), log, workerId: "w1", poll: { minIntervalMs: 20, maxIntervalMs: 50 } },
    { concurrency: 2, leaseSeconds: 30, heartbeatMs: 100_000, idlePollMs: 20 },
  );
  w1.start();
  try {
    await until("w1 running both steps", async () => (await listSteps(db, row.id)).filter((s) => s.status === "running").length === 2, 10_000, 10);
    // w1's lease lapses; w2 takes the render and its attempt fails (retryable, due at once).
    await db.query(`update render_jobs set locked_until = now() - interval '1 second' where id = $1`, [row.id]);
    assert.equal((await claim(db, "w2", 30))?.id, row.id);
    assert.equal(await fail(db, row.id, "w2", { code: "transient", message: "w2's attempt failed", retryable: true }, 0), "queued");
    const seen = claims;
    await until("w1 to have tried two more claims", async () => claims >= seen + 2, 10_000, 5);
    const r = await getRender(db, row.id);
    assert.equal(r?.status, "queued", `w1 did not start a second attempt beside its first (locked_by ${r?.locked_by}, attempts ${r?.attempts})`);
    assert.equal(r?.attempts, 2);
  } finally {
    await w1.stop();
    await router.close();
  }
});
