/**
 * Burst, end to end on real parts (issue 7): one real Postgres, two worker PROCESSES, an
 * in-house `canvascast serve` whose render pool holds exactly N render_video jobs
 * (workers = N, queue = 0, so the (N+1)th gets 429 capacity) and a second
 * `canvascast serve --backend-name modal` as the Modal stand-in. Both servers share one
 * artifact store (the stand-in's store is a symlink to the in-house one) and one signing
 * secret, as Supabase Storage is shared in production.
 *
 * 3N small renders are queued at once. From the servers' own job records (started_at /
 * finished_at of GET /v1/jobs/{id}) and the route_decisions table:
 *   - in-house never ran more than N render_video jobs at the same time;
 *   - the render steps it did not take ran on the Modal stand-in, placed there because
 *     in-house was full (reason inhouse_capacity);
 *   - every render succeeded and published an MP4 whose bytes match its sha256;
 *   - both worker processes took part.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { migrate } from "./db/migrate.ts";
import { openPostgres } from "./db/postgres.ts";
import type { Db } from "./db/db.ts";
import { enqueue, getRender, listSteps } from "./queue/index.ts";
import { ComputeServer } from "../test/support/computeServer.ts";
import { createTestDatabase } from "../test/support/postgres.ts";
import { tempDir } from "../test/support/tmp.ts";
import { until } from "../test/support/until.ts";
import { WorkerProcesses } from "../test/support/workerProcess.ts";

const N = 1;
const TOKEN = "burst-e2e-token";
const SECRET = "burst-e2e-signing-secret-0123456789abcdef";
const SENTENCES = [
  "Every day, the ocean rises and falls along the coast.",
  "These tides are pulled by the moon, whose gravity tugs on the water.",
  "The sun pulls too, so when they line up we get spring tides.",
  "Look for the line of seaweed left by the last high tide.",
  "Waves roll onto a sandy coast at golden hour.",
  "The full moon hangs above a quiet sea.",
];

/** Most intervals open at once (an end at the same instant as a start counts as before it). */
function maxOverlap(intervals: Array<[number, number]>): number {
  const events = intervals.flatMap(([s, e]) => [[s, 1], [e, -1]] as Array<[number, number]>);
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let most = 0;
  for (const [, d] of events) most = Math.max(most, (open += d));
  return most;
}

const dir = tempDir("cc-burst-");
const inhouseDir = join(dir.path, "inhouse");
const modalDir = join(dir.path, "modal");
const pg = createTestDatabase("cc_burst");
const serverEnv = { IMAGE_FALLBACK: "placeholder", ARTIFACT_SIGNING_SECRET: SECRET };
const inhouse = new ComputeServer({ dataDir: inhouseDir, token: TOKEN, env: serverEnv, pools: { render_video: { workers: N, queue: 0 } } });
const modal = new ComputeServer({ dataDir: modalDir, token: TOKEN, env: serverEnv, backendName: "modal" });
const workers = new WorkerProcesses(dir.path, () => ({
  DATABASE_URL: pg.url, CANVASCAST_DATA_DIR: inhouseDir,
  COMPUTE_URL: inhouse.url, COMPUTE_TOKEN: TOKEN, COMPUTE_PUBLIC_URL: inhouse.url,
  MODAL_COMPUTE_URL: modal.url, MODAL_COMPUTE_TOKEN: TOKEN, ARTIFACT_SIGNING_SECRET: SECRET,
  WORKER_CONCURRENCY: "2", WORKER_POLL_MS: "200", WORKER_BACKOFF_BASE_S: "0.1",
}));
let db: Db;

before(async () => {
  mkdirSync(join(inhouseDir, "store"), { recursive: true });
  mkdirSync(modalDir, { recursive: true });
  symlinkSync(join(inhouseDir, "store"), join(modalDir, "store"));
  await Promise.all([inhouse.start(120_000), modal.start(120_000)]);
  db = openPostgres(pg.url, 2);
  await migrate(db);
});

after(async () => {
  workers.killAll();
  await db?.close();
  await Promise.all([inhouse.stop(), modal.stop()]);
  pg.drop();
  dir.cleanup();
});

test(`burst: 2 worker processes, in-house render capacity ${N}, ${3 * N} renders: in-house never runs more than ${N}, the rest spill to Modal`, { timeout: 300_000 }, async (t) => {
  const ids: string[] = [];
  for (let i = 0; i < 3 * N; i++) {
    const sentence = SENTENCES[i % SENTENCES.length]!;
    const wavPath = join(dir.path, `narration-${i}.wav`);
    execFileSync("espeak-ng", ["-w", wavPath, sentence]);
    const up = await fetch(`${inhouse.url}/v1/artifacts?ext=wav`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "audio/wav" }, body: readFileSync(wavPath) });
    assert.ok(up.ok, `upload: ${up.status}`);
    const { key } = (await up.json()) as { key: string };
    const request = { title: `burst ${i}`, narration_audio: key, language: "en", scenes: [{ narration: sentence, image_prompt: `scene ${i}` }], height: 360, fps: 24 };
    const { row } = await enqueue(db, { owner: "burst", request, idempotencyKey: `burst-${i}` });
    ids.push(row.id);
  }
  workers.start("worker1");
  workers.start("worker2");

  const lockers = new Set<string>();
  await until("every render to finish", async () => {
    const rows = await db.query<{ status: string; locked_by: string | null }>(`select status, locked_by from render_jobs where id = any($1::uuid[])`, [ids]);
    for (const r of rows) if (r.status === "running" && r.locked_by) lockers.add(r.locked_by);
    return rows.every((r) => ["succeeded", "failed", "dead", "cancelled"].includes(r.status));
  }, 280_000, 300);

  const inhouseRuns: Array<[number, number]> = [];
  const placed = { inhouse: 0, modal: 0 };
  for (const id of ids) {
    const done = (await getRender(db, id))!;
    assert.equal(done.status, "succeeded", `${id}: ${JSON.stringify(done.last_error)}`);
    const render = (await listSteps(db, id)).find((s) => s.step === "render")!;
    assert.equal(render.status, "succeeded");
    const decisions = await db.query<{ backend: string; reason: string }>(`select backend, reason from route_decisions where render_id = $1 and step = 'render'`, [id]);
    assert.equal(decisions.length, 1, "the render step was placed once");
    const backend = decisions[0]!.backend as "inhouse" | "modal";
    assert.equal(render.backend, backend);
    placed[backend]++;
    const server = backend === "inhouse" ? inhouse : modal;
    const job = await server.job(render.compute_job_id!);
    assert.equal(job.status, "succeeded", `${backend} job ${render.compute_job_id}`);
    assert.equal(job.kind, "render_video");
    assert.equal(job.backend, backend, "the job ran on the server the decision names");
    if (backend === "inhouse") {
      assert.equal(decisions[0]!.reason, "inhouse_first");
      inhouseRuns.push([Date.parse(job.started_at as string), Date.parse(job.finished_at as string)]);
    } else {
      assert.equal(decisions[0]!.reason, "inhouse_capacity", "spilled because in-house was full");
    }

    const video = (done.result as { video: { key: string; sha256: string; size: number; url: string } }).video;
    assert.equal(video.key, `renders/burst/${id}.mp4`);
    const bytes = readFileSync(join(inhouseDir, "store", video.key));
    assert.equal(bytes.length, video.size);
    assert.equal(createHash("sha256").update(bytes).digest("hex"), video.sha256);
    assert.equal(bytes.subarray(4, 8).toString("latin1"), "ftyp", "an MP4");
    const served = await fetch(video.url);
    assert.equal(served.status, 200);
    assert.equal(Buffer.from(await served.arrayBuffer()).length, video.size);
  }

  assert.equal(placed.inhouse + placed.modal, 3 * N);
  assert.ok(placed.inhouse >= 1, "in-house is filled first");
  assert.ok(placed.modal >= 1, `the overflow spilled to Modal: ${JSON.stringify(placed)}`);
  assert.ok(maxOverlap(inhouseRuns) <= N, `in-house ran more than ${N} render_video jobs at once: ${JSON.stringify(inhouseRuns)}`);
  t.diagnostic(`render steps placed ${JSON.stringify(placed)}; in-house max concurrent render_video = ${maxOverlap(inhouseRuns)}; workers ${lockers.size}`);
  assert.equal(lockers.size, 2, `both worker processes ran renders: ${[...lockers].join(", ")}`);
});
