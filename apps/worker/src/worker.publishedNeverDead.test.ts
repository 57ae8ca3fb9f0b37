/**
 * A render whose video is published is never declared dead. When the statement recording it
 * succeeded fails (a database blip past retryStatement's tries) on its last attempt, the
 * attempt's failure is not what happened to the render: it goes back to be completed (its
 * steps are all reused, only the URLs are signed again), and a lease that lapses after the
 * publish is not reaped dead but claimed again. Declared dead, the owner saw a failed render
 * whose MP4 sat in storage.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Db } from "./db/db.ts";
import { log } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { claim, enqueue, fail, getRender, reapDead, saveStep } from "./queue/index.ts";
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

/** A render on its last attempt with every compute step done; `published`: its publish step too. */
async function lastAttemptRendered(published: boolean): Promise<string> {
  const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 1 });
  await db.query(`update render_jobs set status = 'cancelled' where id <> $1 and status in ('queued', 'running')`, [row.id]);
  const done = { status: "succeeded" as const, step_attempt: 1, finished_at: new Date() };
  await saveStep(db, row.id, "images", { ...done, output: { images: [{ index: 0, status: "succeeded", artifact: { key: `artifacts/sha256/bb/${"b".repeat(64)}.png` } }] } });
  await saveStep(db, row.id, "align", { ...done, output: { words: [{ text: "hello", startMs: 0, endMs: 400 }, { text: "world", startMs: 400, endMs: 900 }], duration_ms: 1000 } });
  await saveStep(db, row.id, "render", { ...done, output: { video: VIDEO, durationMs: 1000 } });
  if (published) await saveStep(db, row.id, "publish", { ...done, output: { ...VIDEO, key: `renders/o/${row.id}.mp4` } });
  return row.id;
}

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

test("a lease that lapsed after the publish, on the last attempt, is claimed again, not reaped dead", async () => {
  const id = await lastAttemptRendered(true);
  assert.equal((await claim(db, "died", -1))?.id, id); // its worker died before recording the success
  assert.deepEqual(await reapDead(db, "w2"), [], "a published render is not dead");
  const again = await claim(db, "w2", 30);
  assert.equal(again?.id, id, "claimed again to be completed");
  assert.equal(again?.attempts, 1, "attempts never go past max_attempts");
  await db.query(`update render_jobs set status = 'cancelled' where id = $1`, [id]);
});

test("a retryable failure recorded after the publish, on the last attempt, queues the render again instead of dead", async () => {
  const id = await lastAttemptRendered(true);
  await claim(db, "w1", 30);
  assert.equal(await fail(db, id, "w1", { code: "internal", message: "connection terminated", retryable: true }, 0), "queued");
  assert.equal((await claim(db, "w2", 30))?.id, id, "and claimable");
  await db.query(`update render_jobs set status = 'cancelled' where id = $1`, [id]);
});

test("an unpublished render on its last attempt still goes dead", async () => {
  const id = await lastAttemptRendered(false);
  await claim(db, "died", -1);
  assert.deepEqual(await reapDead(db, "w2"), [id]);
});

test("a database blip while recording the success of the last attempt: the render ends succeeded, not dead", async () => {
  const id = await lastAttemptRendered(false);
  let blips = 5; // retryStatement's tries: the worker gives up on complete()
  const flaky = Object.assign(Object.create(db) as Db, {
    async query(text: string, params?: unknown[]) {
      if (blips > 0 && /set status = 'succeeded'/.test(text)) {
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
      const r = await getRender(db, id);
      return r && ["succeeded", "failed", "dead", "cancelled"].includes(r.status) ? r : null;
    }, 20_000, 20);
    assert.equal(end.status, "succeeded", `a published render ends succeeded (was ${end.status}: ${JSON.stringify(end.last_error)})`);
    assert.equal((end.result?.video as { url?: string })?.url, `https://signed.example/renders/o/${id}.mp4`);
  } finally {
    await w.stop();
    await router.close();
  }
});
