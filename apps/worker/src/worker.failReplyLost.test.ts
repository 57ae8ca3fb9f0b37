/**
 * The statement recording a failed attempt commits, but its reply is lost: retried, it finds
 * the render no longer running. The render did end (failed for good here), by this attempt:
 * it is counted and logged so, and handled as a render over for good (its compute jobs
 * cancelled), not counted `lost` with status null and its leftover jobs left running.
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
import { openMigratedPglite } from "../test/support/migratedPglite.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

test("a failure whose commit's reply is lost is counted failed, not lost", async () => {
  const compute = new ScriptedCompute("inhouse", () => ({ status: "failed", error: { code: "audio_silent", message: "no speech", retryable: false } }));
  const request = { narration_audio: `artifacts/sha256/aa/${"a".repeat(64)}.wav`, scenes: [{ narration: "hello world", image: `artifacts/sha256/bb/${"b".repeat(64)}.png` }] };
  const { row } = await enqueue(db, { owner: "o", request, maxAttempts: 3 });
  let lost = 1;
  const flaky = Object.assign(Object.create(db) as Db, {
    async query(text: string, params?: unknown[]) {
      const rows = await db.query(text, params);
      if (lost > 0 && /then 'dead'/.test(text)) {
        lost--;
        throw new Error("Connection terminated unexpectedly"); // committed; the reply never came
      }
      return rows;
    },
  });
  const lines: Record<string, unknown>[] = [];
  const spy = log.child({}, { level: "silent" });
  spy.error = ((obj: Record<string, unknown>) => void lines.push(obj)) as typeof spy.error;
  const metrics = new Metrics();
  const router = new Router({ inhouse: compute.client() });
  const w = new Worker({ db: flaky, router, publisher: { async remove() {} } as unknown as Publisher, metrics, log: spy, workerId: "w1" }, { leaseSeconds: 30, heartbeatMs: 200, idlePollMs: 20 });
  w.start();
  try {
    await until("the render failed", async () => (await getRender(db, row.id))?.status === "failed", 20_000, 20);
    const counted = await until("its attempt counted", async () => {
      const values = (await metrics.renders.get()).values.filter((v) => v.value > 0);
      return values.length ? values : null;
    }, 20_000, 20);
    assert.equal(lost, 0, "the commit's reply was lost once");
    assert.deepEqual(counted.map((v) => [v.labels.status, v.value]), [["failed", 1]]);
    const failed = lines.find((l) => l.event === "render_failed");
    assert.equal(failed?.status, "failed", JSON.stringify(failed));
  } finally {
    await w.stop();
    await router.close();
  }
});
