/**
 * A compute job the worker could not poll for `maxUnreachableMs` is not known to be lost: the
 * backend may have been running it all along. The render's next attempt must not pay for a
 * second job while that one runs or has finished: it looks at the job it had first, and only
 * submits a new one when that job is really gone (or failed).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ComputeClient } from "./client/modal-client.ts";
import type { Db } from "./db/db.ts";
import { log } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { claim, enqueue, getRender, listSteps } from "./queue/index.ts";
import { Router } from "./router/index.ts";
import type { Publisher } from "./storage/publisher.ts";
import { Worker } from "./worker.ts";
import { ScriptedCompute } from "../test/support/scriptedCompute.ts";
import { openMigratedPglite, SMALL_REQUEST } from "../test/support/migratedPglite.ts";

const WORDS = { words: [{ text: "hello", startMs: 0, endMs: 400 }, { text: "world", startMs: 400, endMs: 900 }], duration_ms: 1000 };
const IMAGES = { images: [{ index: 0, status: "succeeded", artifact: { key: `artifacts/sha256/bb/${"b".repeat(64)}.png` } }] };

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

/** The scripted plane behind a link that answers 503 to every poll of a generate_images job while `down`. */
function flaky(compute: ScriptedCompute) {
  const state = { down: false, failedPolls: 0 };
  const f = (async (url: string | URL | Request, init: RequestInit = {}) => {
    const m = /^\/v1\/jobs\/(.+)$/.exec(new URL(String(url)).pathname);
    const job = m ? compute.jobs.get(decodeURIComponent(m[1]!)) : undefined;
    if (state.down && (init.method ?? "GET") === "GET" && job?.kind === "generate_images") {
      state.failedPolls++;
      return new Response(JSON.stringify({ error: { code: "bad_gateway", message: "upstream down", retryable: true } }), { status: 503 });
    }
    return compute.fetch(url, init);
  }) as typeof fetch;
  const client = new ComputeClient(
    { name: "inhouse", baseUrl: "http://inhouse.scripted", policy: { attemptTimeoutMs: 2000, maxAttempts: 2, initialDelayMs: 5, maxDelayMs: 10, minimumRps: 1e6 } },
    { metrics: new Metrics(), log, fetch: f },
  );
  return { state, client };
}

/** align succeeds, the first images job runs (a second one fails at once), render fails: the attempt ends at render. */
function plane(): ScriptedCompute {
  let imageJobs = 0;
  return new ScriptedCompute("inhouse", (kind) =>
    kind === "transcribe_audio" ? { status: "succeeded", result: WORDS }
    : kind === "generate_images" ? (imageJobs++ === 0 ? { status: "running" } : { status: "failed", error: { code: "second_job", message: "paid twice", retryable: false } })
    : { status: "failed", error: { code: "render_bad", message: "stop here", retryable: false } });
}

test("a job that could not be polled for a while is reattached on the next attempt, not submitted again", async () => {
  const compute = plane();
  const link = flaky(compute);
  const router = new Router({ inhouse: link.client });
  const w = new Worker(
    { db, router, publisher: {} as Publisher, metrics: new Metrics(), log, workerId: "w1", poll: { minIntervalMs: 5, maxIntervalMs: 10, maxUnreachableMs: 50 } },
    { leaseSeconds: 30, heartbeatMs: 10_000, backoffBaseSeconds: 0 },
  );
  const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 3 });
  await db.query(`update render_jobs set status = 'cancelled' where id <> $1 and status in ('queued', 'running')`, [row.id]);

  // Attempt 1: the images job runs, but every poll of it fails past maxUnreachableMs.
  link.state.down = true;
  await w.process((await claim(db, "w1", 30))!);
  assert.ok(link.state.failedPolls > 0);
  const afterFirst = await getRender(db, row.id);
  assert.equal(afterFirst?.status, "queued", "retryable: the render goes back to the queue");
  const [images] = compute.submitted("generate_images");
  assert.equal(images?.status, "running", "the backend was running the job all along");

  // The link is back and the job has finished meanwhile.
  link.state.down = false;
  images!.status = "succeeded";
  images!.result = IMAGES;
  await db.query(`update render_jobs set run_at = now() where id = $1`, [row.id]);
  await w.process((await claim(db, "w1", 30))!);

  assert.equal(compute.submitted("generate_images").length, 1, "image generation paid once: no second job for the step");
  const steps = new Map((await listSteps(db, row.id)).map((s) => [s.step, s]));
  assert.equal(steps.get("images")?.status, "succeeded");
  assert.equal(steps.get("images")?.compute_job_id, images!.id);
  assert.deepEqual(steps.get("images")?.output, IMAGES);
  assert.equal((await getRender(db, row.id))?.last_error?.code, "render_bad", "the render went on to the render step");
});

test("an unreachable job that turns out gone (404) is submitted again on the next attempt", async () => {
  let imageJobs = 0;
  const compute = new ScriptedCompute("inhouse", (kind) =>
    kind === "transcribe_audio" ? { status: "succeeded", result: WORDS }
    : kind === "generate_images" ? (imageJobs++ === 0 ? { status: "running" } : { status: "succeeded", result: IMAGES })
    : { status: "failed", error: { code: "render_bad", message: "stop here", retryable: false } });
  const link = flaky(compute);
  const router = new Router({ inhouse: link.client });
  const w = new Worker(
    { db, router, publisher: {} as Publisher, metrics: new Metrics(), log, workerId: "w1", poll: { minIntervalMs: 5, maxIntervalMs: 10, maxUnreachableMs: 50 } },
    { leaseSeconds: 30, heartbeatMs: 10_000, backoffBaseSeconds: 0 },
  );
  const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 3 });
  await db.query(`update render_jobs set status = 'cancelled' where id <> $1 and status in ('queued', 'running')`, [row.id]);
  link.state.down = true;
  await w.process((await claim(db, "w1", 30))!);
  link.state.down = false;
  const [lost] = compute.submitted("generate_images");
  compute.jobs.delete(lost!.id); // the backend forgot it (a restart without its registry): GET answers 404
  await db.query(`update render_jobs set run_at = now() where id = $1`, [row.id]);
  await w.process((await claim(db, "w1", 30))!);
  const [again] = compute.submitted("generate_images");
  assert.ok(again && again.id !== lost!.id, "a new job for the step");
  const step = (await listSteps(db, row.id)).find((s) => s.step === "images");
  assert.equal(step?.status, "succeeded");
  assert.equal(step?.step_attempt, 2, "a new step attempt: a new key");
  assert.equal(step?.compute_job_id, again!.id);
  assert.equal((await getRender(db, row.id))?.last_error?.code, "render_bad");
});
