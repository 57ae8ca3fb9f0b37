/**
 * A render's retry is jittered around the backoff curve (base · e^attempts): renders that
 * failed together (an outage of the compute plane fails them all within a poll or two) must
 * not all come back at the same instant and resubmit in lockstep. The spread comes from the
 * worker's random source, injected here so the delays are exact.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Db } from "./db/db.ts";
import { log } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { claim, enqueue } from "./queue/index.ts";
import { Router } from "./router/index.ts";
import type { Publisher } from "./storage/publisher.ts";
import { Worker } from "./worker.ts";
import { ScriptedCompute } from "../test/support/scriptedCompute.ts";
import { openMigratedPglite, SMALL_REQUEST } from "../test/support/migratedPglite.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

const BASE_S = 1;

/** The delay (s) before the retry of one attempt that fails retryably, under a worker whose random source is `random`. */
async function retryDelay(random: () => number): Promise<number> {
  const compute = new ScriptedCompute("inhouse", () => ({ status: "failed", error: { code: "upstream_unavailable", message: "try later", retryable: true } }));
  const router = new Router({ inhouse: compute.client() });
  const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 3 });
  await db.query(`update render_jobs set status = 'cancelled' where id <> $1 and status in ('queued', 'running')`, [row.id]);
  const w = new Worker({ db, router, publisher: {} as Publisher, metrics: new Metrics(), log, workerId: "w1", poll: { minIntervalMs: 10, maxIntervalMs: 20 } },
    { leaseSeconds: 30, heartbeatMs: 10_000, backoffBaseSeconds: BASE_S, random });
  try {
    await w.process((await claim(db, "w1", 30))!);
  } finally {
    await router.close();
  }
  const [r] = await db.query<{ status: string; delay: number }>(`select status, extract(epoch from run_at - updated_at)::float8 as delay from render_jobs where id = $1`, [row.id]);
  assert.equal(r?.status, "queued");
  await db.query(`update render_jobs set status = 'cancelled' where id = $1`, [row.id]);
  return r!.delay;
}

test("the retry delay of a render is spread by the worker's random source, around base · e^attempts", async () => {
  const low = await retryDelay(() => 0);
  const mid = await retryDelay(() => 0.5);
  const high = await retryDelay(() => 0.999999);
  const curve = BASE_S * Math.E; // attempt 1
  assert.ok(Math.abs(mid - curve) < 0.01, `the middle of the spread is the curve (${mid} s, curve ${curve} s)`);
  assert.ok(Math.abs(low - curve * 0.75) < 0.01, `the low end is 3/4 of the curve (${low} s)`);
  assert.ok(Math.abs(high - curve * 1.25) < 0.01, `the high end is 5/4 of the curve (${high} s)`);
});
