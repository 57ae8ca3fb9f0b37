/**
 * A worker with every slot busy still reaps: a render whose lease expired on its last attempt
 * goes `dead` (and its compute jobs are cancelled) while this worker runs other renders. Reaping
 * only with a free slot left it `running` for as long as the fleet stayed busy, its jobs billing.
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
import { until } from "../test/support/until.ts";
import { openMigratedPglite, SMALL_REQUEST } from "../test/support/migratedPglite.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

test("a worker whose every slot is busy still declares dead a render whose lease expired on its last attempt", async () => {
  const compute = new ScriptedCompute("inhouse", () => ({ status: "running" })); // jobs run until cancelled
  const { row: busy } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 3 });
  const router = new Router({ inhouse: compute.client() });
  const w = new Worker(
    { db, router, publisher: {} as Publisher, metrics: new Metrics(), log, workerId: "w1", poll: { minIntervalMs: 20, maxIntervalMs: 50 } },
    { concurrency: 1, leaseSeconds: 30, heartbeatMs: 200, idlePollMs: 20 },
  );
  w.start();
  try {
    await until("the only slot busy", async () => (await listSteps(db, busy.id)).filter((s) => s.status === "running").length === 2, 10_000, 20);
    // Another worker died on a render's last attempt: its lease is already in the past.
    const { row: orphan } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 1 });
    assert.equal((await claim(db, "dead-worker", -1))?.id, orphan.id);
    await until("the orphan reaped", async () => (await getRender(db, orphan.id))?.status === "dead", 5_000, 20)
      .catch(() => assert.fail("a busy worker never reaped: the render stayed running with its lease expired and no attempt left"));
    assert.equal((await getRender(db, busy.id))?.status, "running");
  } finally {
    await w.stop();
    await router.close();
  }
});
