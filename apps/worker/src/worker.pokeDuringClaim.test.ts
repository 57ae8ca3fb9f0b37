/**
 * A poke (what a POST does after enqueueing) that arrives while the loop's claim is in flight
 * must not be lost: that claim may have looked before the new render was there, and the loop
 * would then sleep a whole idle poll interval (an hour here) before looking again. The claim
 * is held on cue after it has run (it saw an empty queue), the render enqueued and the worker
 * poked meanwhile, then the claim let go.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Db } from "./db/db.ts";
import { log } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { enqueue, getRender } from "./queue/index.ts";
import { Router } from "./router/index.ts";
import type { Publisher } from "./storage/publisher.ts";
import { Worker } from "./worker.ts";
import { ScriptedCompute } from "../test/support/scriptedCompute.ts";
import { until } from "../test/support/until.ts";
import { openMigratedPglite, SMALL_REQUEST } from "../test/support/migratedPglite.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

test("a poke that arrives while a claim is in flight makes the loop claim again at once, not after the idle poll", async () => {
  let claims = 0;
  let claimAnswered!: () => void;
  const answered = new Promise<void>((r) => (claimAnswered = r));
  let letClaimReturn!: () => void;
  const gate = new Promise<void>((r) => (letClaimReturn = r));
  const heldFirstClaim: Db = Object.assign(Object.create(db) as Db, {
    async query(text: string, params?: unknown[]) {
      const rows = await db.query(text, params);
      if (/skip locked/.test(text) && ++claims === 1) {
        claimAnswered(); // it found nothing: the queue was empty when it ran
        await gate;
      }
      return rows;
    },
  });
  const compute = new ScriptedCompute("inhouse", () => ({ status: "running" }));
  const w = new Worker(
    { db: heldFirstClaim, router: new Router({ inhouse: compute.client() }), publisher: {} as Publisher, metrics: new Metrics(), log, workerId: "w1", poll: { minIntervalMs: 20, maxIntervalMs: 50 } },
    { leaseSeconds: 30, heartbeatMs: 200, idlePollMs: 3_600_000 }, // an idle poll would never come within the test
  );
  w.start();
  try {
    await answered;
    const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 3 });
    w.poke(); // the API's onEnqueued, while the loop is still in its claim
    letClaimReturn();
    await until("the new render claimed", async () => (await getRender(db, row.id))?.status === "running", 10_000, 20);
    assert.equal((await getRender(db, row.id))?.locked_by, "w1");
  } finally {
    await w.stop();
  }
});
