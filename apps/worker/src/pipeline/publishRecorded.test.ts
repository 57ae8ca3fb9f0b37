/**
 * Once the video is copied and its publish step recorded `succeeded`, a database blip on the
 * progress write that follows is not a failed publish: the step stays `succeeded` (its output
 * reused by the next attempt), so on the last attempt the render is not declared dead with its
 * MP4 published. The catch meant for the publisher's errors rewrote the step `failed`.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Db } from "../db/db.ts";
import { log } from "../log.ts";
import { Metrics } from "../metrics.ts";
import { enqueue, getRender, listSteps, saveStep } from "../queue/index.ts";
import { Router } from "../router/index.ts";
import type { Publisher } from "../storage/publisher.ts";
import { Worker } from "../worker.ts";
import { ScriptedCompute } from "../../test/support/scriptedCompute.ts";
import { until } from "../../test/support/until.ts";
import { openMigratedPglite, SMALL_REQUEST } from "../../test/support/migratedPglite.ts";

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
  async remove() {},
};

test("a database blip on the progress write after the publish, on the last attempt: the render still ends succeeded", async () => {
  const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 1 });
  const done = { status: "succeeded" as const, step_attempt: 1, finished_at: new Date() };
  await saveStep(db, row.id, "images", { ...done, output: { images: [{ index: 0, status: "succeeded", artifact: { key: `artifacts/sha256/bb/${"b".repeat(64)}.png` } }] } });
  await saveStep(db, row.id, "align", { ...done, output: { words: [{ text: "hello", startMs: 0, endMs: 400 }, { text: "world", startMs: 400, endMs: 900 }], duration_ms: 1000 } });
  await saveStep(db, row.id, "render", { ...done, output: { video: VIDEO, durationMs: 1000 } });
  let blips = 1;
  const flaky = Object.assign(Object.create(db) as Db, {
    async query(text: string, params?: unknown[]) {
      if (blips > 0 && /set step = \$3, progress/.test(text) && params?.[2] === "publish" && String(params?.[3]).includes('"succeeded"')) {
        blips--;
        throw new Error("Connection terminated unexpectedly");
      }
      return db.query(text, params);
    },
  });
  const router = new Router({ inhouse: new ScriptedCompute("inhouse", () => ({ status: "running" })).client() });
  const w = new Worker({ db: flaky, router, publisher, metrics: new Metrics(), log, workerId: "w1" }, { leaseSeconds: 30, heartbeatMs: 200, idlePollMs: 20, backoffBaseSeconds: 0 });
  w.start();
  try {
    const end = await until("the render over", async () => {
      const r = await getRender(db, row.id);
      return r && ["succeeded", "failed", "dead", "cancelled"].includes(r.status) ? r : null;
    }, 20_000, 20);
    const publish = (await listSteps(db, row.id)).find((s) => s.step === "publish");
    assert.equal(end.status, "succeeded", `a published render ends succeeded (was ${end.status}: ${JSON.stringify(end.last_error)}; publish step ${publish?.status})`);
    assert.equal(blips, 0, "the blip happened");
  } finally {
    await w.stop();
    await router.close();
  }
});
