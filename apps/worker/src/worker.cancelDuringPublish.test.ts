/**
 * The owner cancels a render while its video is being published: the render is cancelled (the
 * owner asked first), so the copy made meanwhile must not stay in the renders bucket under the
 * owner's name, and the worker must say what happened to the attempt. It logged nothing and
 * counted nothing (complete() found the render no longer running), and the MP4 stayed.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Writable } from "node:stream";
import pino from "pino";
import type { Db } from "./db/db.ts";
import { Metrics } from "./metrics.ts";
import { cancel, enqueue, getRender, listSteps, saveStep } from "./queue/index.ts";
import { Router } from "./router/index.ts";
import type { Publisher } from "./storage/publisher.ts";
import { Worker } from "./worker.ts";
import { ScriptedCompute } from "../test/support/scriptedCompute.ts";
import { until } from "../test/support/until.ts";
import { openMigratedPglite, SMALL_REQUEST } from "../test/support/migratedPglite.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

const ref = (c: string, ext: string) => ({ key: `artifacts/sha256/${c}${c}/${c.repeat(64)}.${ext}`, sha256: c.repeat(64), size: 10, content_type: "x" });

test("a cancel that lands during the publish removes what was published and is logged and counted as cancelled", async () => {
  const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 3 });
  await db.query(`update render_jobs set status = 'cancelled' where id <> $1 and status in ('queued', 'running')`, [row.id]);
  const done = { status: "succeeded" as const, step_attempt: 1, finished_at: new Date() };
  await saveStep(db, row.id, "images", { ...done, output: { images: [{ index: 0, status: "succeeded", artifact: { key: `artifacts/sha256/bb/${"b".repeat(64)}.png` } }] } });
  await saveStep(db, row.id, "align", { ...done, output: { words: [{ text: "hello", startMs: 0, endMs: 400 }, { text: "world", startMs: 400, endMs: 900 }], duration_ms: 1000, srt: ref("d", "srt"), vtt: ref("e", "vtt") } });
  await saveStep(db, row.id, "render", { ...done, output: { video: ref("c", "mp4"), durationMs: 1000 } });

  const stored = new Set<string>();
  let publishing: (() => void) | null = null;
  const publisher = {
    kind: "local",
    async publish(source, owner, id) {
      const key = `renders/${owner}/${id}.${source.key.split(".").pop()}`;
      if (source.key.endsWith(".mp4")) await new Promise<void>((r) => (publishing = r)); // the copy takes a while
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

  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: "info" }, new Writable({ write(chunk, _enc, cb) { lines.push(JSON.parse(String(chunk))); cb(); } }));
  const metrics = new Metrics();
  const router = new Router({ inhouse: new ScriptedCompute("inhouse", () => ({ status: "running" })).client() });
  const w = new Worker({ db, router, publisher, metrics, log, workerId: "w1" }, { leaseSeconds: 30, heartbeatMs: 50, idlePollMs: 20 });
  w.start();
  try {
    await until("the publish under way", async () => publishing !== null, 10_000, 10);
    assert.equal((await cancel(db, row.id, "o"))?.status, "cancelled");
    publishing!();
    await until("the attempt accounted for", async () => lines.some((l) => l.event === "render_aborted" && l.render_id === row.id), 5_000, 10)
      .catch(() => assert.fail(`no line says what happened to the attempt: ${JSON.stringify(lines.map((l) => l.event))}`));
    assert.equal((await getRender(db, row.id))?.status, "cancelled");
    assert.deepEqual([...stored], [], "nothing published for a cancelled render stays in storage");
    assert.equal((await listSteps(db, row.id)).find((s) => s.step === "publish")?.status, "cancelled");
    const counted = (await metrics.renders.get()).values.find((v) => v.labels.status === "cancelled")?.value;
    assert.equal(counted, 1, "counted as cancelled");
  } finally {
    await w.stop();
    await router.close();
  }
});
