/**
 * The statement recording a render's success commits, but its reply is lost (the connection
 * drops after the commit): retried, it finds nothing left to update. The render did succeed,
 * by this worker: it is counted and logged succeeded, not `lease_lost` (a render the owner
 * sees succeeded was counted as lost, and no render_succeeded line was logged for it).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Db } from "./db/db.ts";
import { log } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { enqueue, getRender, saveStep } from "./queue/index.ts";
import { Router } from "./router/index.ts";
import type { Publisher } from "./storage/publisher.ts";
import { Worker } from "./worker.ts";
import { ScriptedCompute } from "../test/support/scriptedCompute.ts";
import { until } from "../test/support/until.ts";
import { openMigratedPglite, SMALL_REQUEST } from "../test/support/migratedPglite.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

const VIDEO = { key: `artifacts/sha256/cc/${"c".repeat(64)}.mp4`, sha256: "c".repeat(64), size: 10, content_type: "video/mp4" };

const publisher: Publisher = {
  kind: "local",
  async publish(source, owner, id) {
    return { ...source, key: `renders/${owner}/${id}.mp4`, url: `https://signed.example/renders/${owner}/${id}.mp4` };
  },
  async signedUrl(key) {
    return `https://signed.example/${key}`;
  },
  async signedUrls(keys) {
    return keys.map((key) => ({ key, url: `https://signed.example/${key}` }));
  },
  async remove() {
    throw new Error("a succeeded render's video must not be removed");
  },
};

test("a success whose commit's reply is lost is counted and logged succeeded, not lease_lost", async () => {
  const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 3 });
  const done = { status: "succeeded" as const, step_attempt: 1, finished_at: new Date() };
  await saveStep(db, row.id, "images", { ...done, output: { images: [{ index: 0, status: "succeeded", artifact: { key: `artifacts/sha256/bb/${"b".repeat(64)}.png` } }] } });
  await saveStep(db, row.id, "align", { ...done, output: { words: [{ text: "hello", startMs: 0, endMs: 400 }, { text: "world", startMs: 400, endMs: 900 }], duration_ms: 1000 } });
  await saveStep(db, row.id, "render", { ...done, output: { video: VIDEO, durationMs: 1000 } });
  let lost = 1;
  const flaky = Object.assign(Object.create(db) as Db, {
    async query(text: string, params?: unknown[]) {
      const rows = await db.query(text, params);
      if (lost > 0 && /set status = 'succeeded'/.test(text)) {
        lost--;
        throw new Error("Connection terminated unexpectedly"); // committed; the reply never came
      }
      return rows;
    },
  });
  const lines: Record<string, unknown>[] = [];
  const spy = log.child({});
  for (const level of ["info", "warn", "error"] as const) {
    const orig = spy[level].bind(spy);
    spy[level] = ((obj: unknown, ...rest: unknown[]) => {
      if (obj && typeof obj === "object") lines.push(obj as Record<string, unknown>);
      return (orig as (...a: unknown[]) => void)(obj, ...rest);
    }) as typeof spy.info;
  }
  const metrics = new Metrics();
  const router = new Router({ inhouse: new ScriptedCompute("inhouse", () => ({ status: "running" })).client() });
  const w = new Worker({ db: flaky, router, publisher, metrics, log: spy, workerId: "w1" }, { leaseSeconds: 30, heartbeatMs: 200, idlePollMs: 20, backoffBaseSeconds: 0 });
  w.start();
  try {
    await until("the render succeeded", async () => (await getRender(db, row.id))?.status === "succeeded", 20_000, 20);
    const counted = await until("its attempt counted", async () => {
      const values = (await metrics.renders.get()).values.filter((v) => v.value > 0);
      return values.length ? values : null;
    }, 20_000, 20);
    assert.equal(lost, 0, "the commit's reply was lost once");
    assert.deepEqual(counted.map((v) => [v.labels.status, v.value]), [["succeeded", 1]]);
    assert.ok(lines.some((l) => l.event === "render_succeeded" && l.render_id === row.id), "render_succeeded logged");
    assert.ok(!lines.some((l) => l.event === "render_aborted" && l.render_id === row.id), `not logged aborted: ${JSON.stringify(lines.filter((l) => l.event === "render_aborted"))}`);
  } finally {
    await w.stop();
    await router.close();
  }
});
