/**
 * A graceful stop that lands while a step's non-retryable failure is being recorded: the
 * render has failed for good, so it must end `failed`, not be handed back (attempt refunded,
 * queued again) for the next worker to run, and pay for, once more. The stop is fired from
 * inside the very statement that records the step failed (a hook on the database), so the
 * race is hit on cue, on PGlite and on the real Postgres.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Db } from "./db/db.ts";
import { migrate } from "./db/migrate.ts";
import { openPglite } from "./db/pglite.ts";
import { openPostgres } from "./db/postgres.ts";
import { log } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { claim, enqueue, getRender, listSteps } from "./queue/index.ts";
import { Router } from "./router/index.ts";
import type { Publisher } from "./storage/publisher.ts";
import { Worker } from "./worker.ts";
import { createTestDatabase, postgresAvailable } from "../test/support/postgres.ts";
import { ScriptedCompute } from "../test/support/scriptedCompute.ts";
import { until } from "../test/support/until.ts";

const AUDIO = `artifacts/sha256/aa/${"a".repeat(64)}.wav`;
const ALIGNED = { status: "succeeded", result: { words: [{ text: "hello", startMs: 0, endMs: 400 }, { text: "world", startMs: 400, endMs: 900 }], duration_ms: 1000 } };

/** `db`, except that the statement saving `step` as failed first runs `hook` (stop() begins there). */
function stopWhenStepFails(db: Db, step: string, hook: () => void): Db {
  let fired = false;
  return Object.assign(Object.create(db) as Db, {
    async query(text: string, params?: unknown[]) {
      if (!fired && /insert into public\.render_steps/.test(text) && params?.[1] === step && params?.[2] === "failed") {
        fired = true;
        hook();
      }
      return db.query(text, params);
    },
  });
}

function worker(compute: ScriptedCompute, db: Db): Worker {
  return new Worker(
    { db, router: new Router({ inhouse: compute.client() }), publisher: {} as Publisher, metrics: new Metrics(), log, workerId: "w1", poll: { minIntervalMs: 10, maxIntervalMs: 20 } },
    { leaseSeconds: 30, heartbeatMs: 200, idlePollMs: 50 },
  );
}

async function onlyThis(db: Db, id: string): Promise<void> {
  await db.query(`update render_jobs set status = 'cancelled' where id <> $1 and status in ('queued', 'running')`, [id]);
}

async function sequentialStepFails(db: Db): Promise<void> {
  const compute = new ScriptedCompute("inhouse", (kind) =>
    kind === "transcribe_audio" ? ALIGNED : { status: "failed", error: { code: "bad_timeline", message: "unrenderable", retryable: false } });
  const request = { narration_audio: AUDIO, scenes: [{ narration: "hello world", image: `artifacts/sha256/bb/${"b".repeat(64)}.png` }] };
  const { row } = await enqueue(db, { owner: "o", request, maxAttempts: 3 });
  await onlyThis(db, row.id);
  let stopping: Promise<void> | null = null;
  const w: Worker = worker(compute, stopWhenStepFails(db, "render", () => (stopping = w.stop())));
  w.start();
  await until("stop() began", async () => stopping !== null, 10_000, 10);
  await stopping;
  const r = await getRender(db, row.id);
  assert.equal(r?.status, "failed", `a render failed for good stays failed (was ${r?.status}, attempts ${r?.attempts})`);
  assert.equal(r?.last_error?.code, "bad_timeline");
  assert.equal(await claim(db, "w2", 30), null, "no other worker runs it again");
}

async function parallelStepFails(db: Db): Promise<void> {
  const compute = new ScriptedCompute("inhouse", (kind) =>
    kind === "transcribe_audio"
      ? { status: "failed", error: { code: "audio_silent", message: "no speech", retryable: false } }
      : { status: "running" }); // the image batch is slow
  const request = { narration_audio: AUDIO, scenes: [{ narration: "hello world", image_prompt: "a lighthouse" }] };
  const { row } = await enqueue(db, { owner: "o", request, maxAttempts: 3 });
  await onlyThis(db, row.id);
  let stopping: Promise<void> | null = null;
  const w: Worker = worker(compute, stopWhenStepFails(db, "align", () => (stopping = w.stop())));
  w.start();
  await until("stop() began", async () => stopping !== null, 10_000, 10);
  await stopping;
  const r = await getRender(db, row.id);
  assert.equal(r?.status, "failed", `a render failed for good stays failed (was ${r?.status}, attempts ${r?.attempts})`);
  assert.equal(r?.last_error?.code, "audio_silent");
  assert.equal(await claim(db, "w2", 30), null, "no other worker runs it again");
  const [images] = compute.submitted("generate_images");
  assert.equal(images?.status, "cancelled", "the render is over: its sibling's compute job is cancelled, not left billing");
  const steps = new Map((await listSteps(db, row.id)).map((s) => [s.step, s.status]));
  assert.equal(steps.get("align"), "failed");
  assert.equal(steps.get("images"), "cancelled");
}

test("stop() while the render step's non-retryable failure is recorded: the render ends failed, not released (PGlite)", async () => {
  const db = await openPglite();
  try {
    await migrate(db);
    await sequentialStepFails(db);
  } finally {
    await db.close();
  }
});

test("stop() while the align step's non-retryable failure is recorded: failed, and the images job cancelled (PGlite)", async () => {
  const db = await openPglite();
  try {
    await migrate(db);
    await parallelStepFails(db);
  } finally {
    await db.close();
  }
});

test("stop() racing a non-retryable failure, on the real Postgres", { skip: !postgresAvailable() && "no PostgreSQL" }, async () => {
  const pg = createTestDatabase("cc_shutdown_failure");
  const db = openPostgres(pg.url, 4);
  try {
    await migrate(db);
    await sequentialStepFails(db);
    await parallelStepFails(db);
  } finally {
    await db.close();
    pg.drop();
  }
});
