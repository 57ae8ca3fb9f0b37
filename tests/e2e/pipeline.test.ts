/**
 * End to end on real parts: a real local Postgres, a real `canvascast serve` (placeholder
 * images, faster-whisper alignment, Remotion render) and worker processes.
 *
 * The render is triggered by inserting a row (the product pipeline's path). Worker 1 is
 * killed with SIGKILL while the render step's compute job runs; worker 2 reclaims the job
 * after its lease expires, reattaches to the same compute job and finishes. Then:
 *   - no finished step ran again (same compute job ids, one routing decision per step);
 *   - the in-flight render job ran exactly once (the compute plane's own attempt count);
 *   - the published MP4 matches its sha256 and its signed URL serves it, and so do the
 *     SRT and WebVTT published beside it;
 *   - the caption word on screen at sampled times is the alignment's word (OCR).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { openPostgres } from "../../apps/worker/src/db/postgres.ts";
import { migrate } from "../../apps/worker/src/db/migrate.ts";
import { enqueue, getRender, listSteps } from "../../apps/worker/src/queue/index.ts";
import type { Db } from "../../apps/worker/src/db/db.ts";
import { checkCaptions } from "../../apps/worker/test/support/captions.ts";
import { ComputeServer, REPO } from "../../apps/worker/test/support/computeServer.ts";
import { createTestDatabase } from "../../apps/worker/test/support/postgres.ts";
import { tempDir } from "../../apps/worker/test/support/tmp.ts";
import { until } from "../../apps/worker/test/support/until.ts";
import { WorkerProcesses } from "../../apps/worker/test/support/workerProcess.ts";

const TOKEN = "e2e-compute-token";

const dir = tempDir("cc-e2e-");
const pg = createTestDatabase("cc_e2e");
const compute = new ComputeServer({ dataDir: join(dir.path, "data"), token: TOKEN, env: { IMAGE_FALLBACK: "placeholder" } });
const workers = new WorkerProcesses(dir.path, () => ({
  DATABASE_URL: pg.url, CANVASCAST_DATA_DIR: join(dir.path, "data"),
  COMPUTE_URL: compute.url, COMPUTE_TOKEN: TOKEN, COMPUTE_PUBLIC_URL: compute.url,
  // 10 s lease, 1 s heartbeat: a live worker keeps its lease through 9 s of missed beats on a loaded machine
  WORKER_LEASE_S: "10", WORKER_HEARTBEAT_MS: "1000", WORKER_POLL_MS: "200", WORKER_BACKOFF_BASE_S: "0.1",
}));
let db: Db;

before(async () => {
  await compute.start(120_000);
  db = openPostgres(pg.url, 2);
  await migrate(db);
});

after(async () => {
  workers.killAll();
  await db?.close();
  await compute.stop();
  pg.drop();
  dir.cleanup();
});

test("kill -9 mid-pipeline: the render finishes after restart, nothing runs twice, captions match", { timeout: 600_000 }, async () => {
  const wav = readFileSync(join(REPO, "examples/explainer.wav"));
  const up = await fetch(`${compute.url}/v1/artifacts?ext=wav`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "audio/wav" }, body: wav });
  assert.ok(up.ok, `upload: ${up.status}`);
  const request = { ...JSON.parse(readFileSync(join(REPO, "examples/explainer.json"), "utf8")), height: 360, fps: 24 };
  assert.equal(((await up.json()) as { key: string }).key, request.narration_audio);
  const { row } = await enqueue(db, { owner: "e2e", request, idempotencyKey: "e2e-kill-9" });

  const w1 = workers.start("worker1");
  const exited1 = new Promise((r) => w1.once("exit", r));
  const inflight = await until("the render step's compute job to be running", async () => {
    const steps = await listSteps(db, row.id);
    const r = steps.find((s) => s.step === "render");
    if (!r || r.status !== "running" || !r.compute_job_id) return null;
    const job = await compute.job(r.compute_job_id);
    return job.status === "running" ? { steps, render: r } : null;
  }, 300_000);
  const before = new Map(inflight.steps.map((s) => [s.step, s]));
  assert.equal(before.get("images")?.status, "succeeded");
  assert.equal(before.get("align")?.status, "succeeded");

  w1.kill("SIGKILL");
  await exited1;
  workers.start("worker2");

  const done = await until("the render to finish", async () => {
    const r = await getRender(db, row.id);
    return r && ["succeeded", "failed", "dead", "cancelled"].includes(r.status) ? r : null;
  }, 400_000, 500);
  assert.equal(done.status, "succeeded", JSON.stringify(done.last_error));
  assert.equal(done.attempts, 2, "claimed twice: once by each worker");

  const after = new Map((await listSteps(db, row.id)).map((s) => [s.step, s]));
  for (const step of ["images", "align", "render"] as const) {
    assert.equal(after.get(step)?.status, "succeeded", step);
    assert.equal(after.get(step)?.compute_job_id, before.get(step)?.compute_job_id, `${step}: same compute job`);
    assert.equal(after.get(step)?.step_attempt, 1, `${step}: first step attempt`);
  }
  const decisions = await db.query<{ step: string; n: number }>(`select step, count(*)::int as n from route_decisions where render_id = $1 group by step order by step`, [row.id]);
  assert.deepEqual(decisions, [{ step: "align", n: 1 }, { step: "images", n: 1 }, { step: "render", n: 1 }], "each step was submitted once");
  const renderJob = await compute.job(inflight.render.compute_job_id!);
  assert.equal(renderJob.status, "succeeded");
  assert.equal(renderJob.attempts, 1, "the in-flight compute job ran exactly once");

  const video = (done.result as { video: { key: string; sha256: string; size: number; url: string } }).video;
  assert.equal(video.key, `renders/e2e/${row.id}.mp4`);
  const path = join(dir.path, "data", "store", video.key);
  const bytes = readFileSync(path);
  assert.equal(createHash("sha256").update(bytes).digest("hex"), video.sha256);
  const served = await fetch(video.url);
  assert.equal(served.status, 200);
  assert.equal(Buffer.from(await served.arrayBuffer()).length, video.size);

  // The caption files are published beside the video, checked and signed the same way.
  const subtitles = (done.result as { subtitles: Record<"srt" | "vtt", { key: string; sha256: string; size: number; url: string }> }).subtitles;
  for (const [ext, head] of [["srt", /^1\n\d\d:\d\d:\d\d,\d{3} --> /], ["vtt", /^WEBVTT\n\n\d\d:\d\d:\d\d\.\d{3} --> /]] as const) {
    const ref = subtitles[ext];
    assert.equal(ref.key, `renders/e2e/${row.id}.${ext}`);
    const file = readFileSync(join(dir.path, "data", "store", ref.key));
    assert.equal(createHash("sha256").update(file).digest("hex"), ref.sha256, ext);
    const got = await fetch(ref.url);
    assert.equal(got.status, 200, ext);
    assert.match(await got.text(), head, ext);
  }

  const words = (after.get("align")!.output as { words: Array<{ text: string; startMs: number; endMs: number }> }).words;
  const samples = checkCaptions(path, words, 8);
  const bad = samples.filter((s) => !s.ok);
  assert.ok(bad.length <= 1, `caption words on screen differ from the alignment: ${JSON.stringify(bad)}`);
});
