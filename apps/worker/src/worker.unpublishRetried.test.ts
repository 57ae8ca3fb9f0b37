/**
 * A render that ended without a video while the database was unreachable for longer than
 * `unpublishEnded`'s read retries: the removal of what it published failed (logged
 * `unpublish_failed`) and was never tried again, so its MP4 stayed under the owner's name for
 * good. The worker tries such a removal again later, until it goes through; the API's DELETE
 * hands its failures to the worker the same way.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Db } from "./db/db.ts";
import { log } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { claim, enqueue, getRender, saveStep } from "./queue/index.ts";
import { Router } from "./router/index.ts";
import type { Publisher } from "./storage/publisher.ts";
import { Worker } from "./worker.ts";
import { ScriptedCompute } from "../test/support/scriptedCompute.ts";
import { until } from "../test/support/until.ts";
import { openMigratedPglite, SMALL_REQUEST } from "../test/support/migratedPglite.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

const quiet = log.child({}, { level: "silent" });
const VIDEO = { key: `artifacts/sha256/cc/${"c".repeat(64)}.mp4`, sha256: "c".repeat(64), size: 10, content_type: "video/mp4" };

function store() {
  const stored = new Set<string>();
  const publisher = {
    kind: "local",
    async publish(source, owner, id) {
      const key = `renders/${owner}/${id}.mp4`;
      stored.add(key);
      return { ...source, key, url: `https://signed.example/${key}` };
    },
    async signedUrl(key) {
      return `https://signed.example/${key}`;
    },
    async signedUrls(keys) {
      return keys.map((key) => ({ key, url: `https://signed.example/${key}` }));
    },
    async remove(keys) {
      for (const k of keys) stored.delete(k);
    },
  } satisfies Publisher;
  return { stored, publisher };
}

/** Reads of this render fail `n` times: the database unreachable past unpublishEnded's retries. */
function unreadable(id: string, n: number): { db: Db; left: () => number } {
  let left = n;
  const flaky = Object.assign(Object.create(db) as Db, {
    async query(text: string, params?: unknown[]) {
      if (left > 0 && /^select \* from public\.render_jobs where id = \$1$/.test(text.trim()) && params?.[0] === id) {
        left--;
        throw new Error("Connection terminated unexpectedly");
      }
      return db.query(text, params);
    },
  });
  return { db: flaky, left: () => left };
}

test("a dead render whose unpublish could not read the database has its video removed once it can", async () => {
  const { stored, publisher } = store();
  const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 1 });
  await db.query(`update render_jobs set status = 'cancelled' where id <> $1 and status in ('queued', 'running')`, [row.id]);
  await saveStep(db, row.id, "render", { status: "succeeded", step_attempt: 1, output: { video: VIDEO, durationMs: 1000 } });
  await saveStep(db, row.id, "publish", { status: "running", step_attempt: 1 });
  await publisher.publish(VIDEO, "o", row.id);
  assert.equal((await claim(db, "died", -1))?.id, row.id); // its worker died mid-copy, on the last attempt
  const flaky = unreadable(row.id, 6); // one more than retryStatement's tries
  const router = new Router({ inhouse: new ScriptedCompute("inhouse", () => ({ status: "running" })).client() });
  const w = new Worker({ db: flaky.db, router, publisher, metrics: new Metrics(), log: quiet, workerId: "w1" }, { idlePollMs: 10, unpublishRetryMs: 20 });
  w.start();
  try {
    await until("the render reaped dead", async () => (await getRender(db, row.id))?.status === "dead", 10_000, 10);
    await until("the published video removed", async () => stored.size === 0, 10_000, 10)
      .catch(() => assert.fail(`a dead render keeps ${JSON.stringify([...stored])} (reads still failing: ${flaky.left()})`));
    assert.equal(flaky.left(), 0, "the first try could not read the render");
  } finally {
    await w.stop();
    await router.close();
  }
});

test("a removal handed on by the API is tried again by the worker", async () => {
  const { stored, publisher } = store();
  const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 3 });
  await saveStep(db, row.id, "publish", { status: "failed", step_attempt: 1 });
  await publisher.publish(VIDEO, "o", row.id);
  await db.query(`update render_jobs set status = 'cancelled' where id = $1`, [row.id]);
  const router = new Router({ inhouse: new ScriptedCompute("inhouse", () => ({ status: "running" })).client() });
  const w = new Worker({ db, router, publisher, metrics: new Metrics(), log: quiet, workerId: "w1" }, { idlePollMs: 10, unpublishRetryMs: 20 });
  w.start();
  try {
    w.unpublishLater(row.id);
    await until("the published video removed", async () => stored.size === 0, 10_000, 10);
  } finally {
    await w.stop();
    await router.close();
  }
});
