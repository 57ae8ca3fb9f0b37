/**
 * What the owner sees of a step's progress (GET /v1/renders/:id and the events stream) while
 * the worker polls its compute job, against a real HTTP compute plane on 127.0.0.1 whose
 * answers the test hands out one at a time (each poll is held until answered, and the next
 * poll arriving proves the answer before it was fully handled):
 *
 * - within one attempt of a step, progress never goes backwards, even when a poll answer is
 *   stale (an older `updated_at`, a lower `done`: a lagging replica, or a worker that
 *   reattached and first hears an older state than the one before it recorded);
 * - a new attempt of the step starts afresh and visibly so (its `step_attempt`, no progress
 *   of the job before) from the moment it begins, not once its new job first reports.
 */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { ComputeClient } from "./client/modal-client.ts";
import type { Db } from "./db/db.ts";
import { migrate } from "./db/migrate.ts";
import { openPglite } from "./db/pglite.ts";
import { parseTokens } from "./http/auth.ts";
import { buildApi } from "./http/server.ts";
import { log } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { getRender, saveStep } from "./queue/index.ts";
import { Router } from "./router/index.ts";
import type { Publisher } from "./storage/publisher.ts";
import { Worker } from "./worker.ts";
import { until } from "../test/support/until.ts";

const REQUEST = {
  narration_audio: `artifacts/sha256/aa/${"a".repeat(64)}.wav`,
  scenes: [{ narration: "hello world", image: `artifacts/sha256/bb/${"b".repeat(64)}.png` }], // no images step: align only
};

interface Answer { status: string; done: number; at: number; error?: unknown }
interface Held<T> { req: T; answer: (a: Answer) => void }

/** A compute plane whose every job poll (and, when `holdPosts`, every submission) waits for the test to answer it. */
class HandedOutCompute {
  private readonly gets: Array<Held<string>> = [];
  private readonly getWaiters: Array<(h: Held<string>) => void> = [];
  private readonly posts: Array<Held<{ kind: string }>> = [];
  private readonly postWaiters: Array<(h: Held<{ kind: string }>) => void> = [];
  holdPosts = false;
  private n = 0;
  private readonly server = createServer((req, res) => void this.handle(req, res));
  url = "";

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** The next job poll to arrive (its job id), held until answered. */
  nextPoll(): Promise<Held<string>> {
    const h = this.gets.shift();
    return h ? Promise.resolve(h) : new Promise((r) => this.getWaiters.push(r));
  }

  /** The next submission to arrive while `holdPosts`, held until answered. */
  nextPost(): Promise<Held<{ kind: string }>> {
    const h = this.posts.shift();
    return h ? Promise.resolve(h) : new Promise((r) => this.postWaiters.push(r));
  }

  private job(id: string, kind: string, a: Answer) {
    const at = new Date(Date.UTC(2026, 0, 1, 0, 0, a.at)).toISOString();
    return { id, kind, status: a.status, backend: "inhouse", attempts: 1, progress: { done: a.done, total: 4, unit: "words", message: "" },
      error: a.error ?? null, result: null, created_at: at, updated_at: at };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = "";
    for await (const chunk of req) body += chunk;
    const send = (status: number, v: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(v));
    };
    const u = new URL(req.url ?? "/", this.url);
    if (req.method === "POST" && u.pathname === "/v1/jobs") {
      const { kind } = JSON.parse(body) as { kind: string };
      const id = `job-${++this.n}`;
      if (!this.holdPosts) return send(202, this.job(id, kind, { status: "queued", done: 0, at: 0 }));
      const held: Held<{ kind: string }> = { req: { kind }, answer: (a) => send(202, this.job(id, kind, a)) };
      const w = this.postWaiters.shift();
      return w ? w(held) : void this.posts.push(held);
    }
    const m = /^\/v1\/jobs\/([^/]+)$/.exec(u.pathname);
    if (req.method === "GET" && m) {
      const id = decodeURIComponent(m[1]!);
      const held: Held<string> = { req: id, answer: (a) => send(200, this.job(id, "transcribe_audio", a)) };
      const w = this.getWaiters.shift();
      return w ? w(held) : void this.gets.push(held);
    }
    send(404, { error: { code: "not_found", message: u.pathname, retryable: false } });
  }
}

type StepView = { step: string; status: string; step_attempt: number; compute_job_id: string | null; progress: { done?: number; compute_job_id?: string } };
type View = { status: string; steps: StepView[] };

const compute = new HandedOutCompute();
let db: Db;
let api: ReturnType<typeof buildApi>;
let base: string;
let worker: Worker;

before(async () => {
  db = await openPglite();
  await migrate(db);
  await compute.start();
  const metrics = new Metrics();
  const client = new ComputeClient({ name: "inhouse", baseUrl: compute.url, policy: { attemptTimeoutMs: 60_000, maxAttempts: 1 } }, { metrics, log });
  const router = new Router({ inhouse: client }, { metrics });
  worker = new Worker(
    { db, router, publisher: {} as Publisher, metrics, log, workerId: "w1", poll: { minIntervalMs: 1, maxIntervalMs: 1 } },
    { leaseSeconds: 30, heartbeatMs: 200, idlePollMs: 20, backoffBaseSeconds: 0 },
  );
  api = buildApi({ db, router, metrics, log, tokens: parseTokens("tok:o"), eventsPollMs: 10 });
  base = await api.listen({ host: "127.0.0.1", port: 0 });
});
after(async () => {
  await compute.stop(); // first: a poll still held there would hold up the worker's stop
  await worker?.stop();
  await api?.close();
  await db?.close();
});

const auth = { authorization: "Bearer tok" };
const align = (v: View) => v.steps.find((s) => s.step === "align");
const get = async (id: string): Promise<View> => (await (await fetch(`${base}/v1/renders/${id}`, { headers: auth })).json()) as View;

/** Every `render` event of a render's stream, as it arrives. */
function follow(id: string): { events: View[]; done: Promise<void> } {
  const events: View[] = [];
  const done = (async () => {
    const res = await fetch(`${base}/v1/renders/${id}/events`, { headers: auth });
    let buf = "";
    for await (const chunk of res.body!) {
      buf += Buffer.from(chunk).toString("utf8");
      let i: number;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const m = /^event: render\ndata: (.*)$/s.exec(frame);
        if (m) events.push(JSON.parse(m[1]!) as View);
      }
    }
  })();
  done.catch(() => {}); // awaited by the test when it gets that far; a failed test leaves it to the teardown
  return { events, done };
}

/** The stream has shown the align step as GET shows it now. */
async function caughtUp(id: string, events: View[]): Promise<void> {
  const now = JSON.stringify(align(await get(id)));
  await until("the event stream caught up with GET", async () => events.length > 0 && JSON.stringify(align(events[events.length - 1]!)) === now, 10_000, 10);
}

test("a step's progress never goes backwards within an attempt, and a new attempt starts afresh, on GET and on the events stream", { timeout: 60_000 }, async () => {
  const posted = await fetch(`${base}/v1/renders`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ ...REQUEST, owner: "o" }) });
  assert.equal(posted.status, 202, await posted.clone().text());
  const { id } = (await posted.json()) as { id: string };
  const stream = follow(id);
  worker.start();

  let poll = await compute.nextPoll();
  assert.equal(poll.req, "job-1");
  poll.answer({ status: "running", done: 1, at: 10 });
  poll = await compute.nextPoll(); // the answer before is recorded
  assert.equal(align(await get(id))?.progress.done, 1);
  poll.answer({ status: "running", done: 3, at: 30 });
  poll = await compute.nextPoll();
  assert.equal(align(await get(id))?.progress.done, 3);
  await caughtUp(id, stream.events);

  poll.answer({ status: "running", done: 2, at: 20 }); // stale: older than the answer before
  poll = await compute.nextPoll();
  assert.equal(align(await get(id))?.progress.done, 3, "GET: a stale poll answer does not take progress back");
  await caughtUp(id, stream.events);

  // The attempt fails (retryable); the retry's new job is held at its submission.
  compute.holdPosts = true;
  poll.answer({ status: "failed", done: 3, at: 40, error: { code: "oom", message: "out of memory", retryable: true } });
  const post = await compute.nextPost();
  const retrying = align(await get(id));
  assert.equal(retrying?.step_attempt, 2, "the new attempt is visible at once");
  assert.notEqual(retrying?.progress.compute_job_id, "job-1", `the new attempt does not show the old job's progress: ${JSON.stringify(retrying)}`);
  assert.ok(!retrying?.progress.done, `the new attempt starts afresh: ${JSON.stringify(retrying)}`);
  // The row Supabase Realtime streams says the same.
  assert.deepEqual((await getRender(db, id))?.progress.align, { status: "submitting", step_attempt: 2 });
  await caughtUp(id, stream.events);

  post.answer({ status: "queued", done: 0, at: 50 });
  poll = await compute.nextPoll();
  assert.equal(poll.req, "job-2");
  poll.answer({ status: "running", done: 1, at: 60 });
  poll = await compute.nextPoll();
  const second = align(await get(id));
  assert.deepEqual([second?.step_attempt, second?.compute_job_id, second?.progress.done], [2, "job-2", 1]);
  poll.answer({ status: "failed", done: 1, at: 70, error: { code: "audio_silent", message: "no speech", retryable: false } });
  await until("the render failed", async () => (await getRender(db, id))?.status === "failed", 10_000, 20);
  await stream.done; // the stream ends with the render

  // What the stream showed, in order: per attempt, progress only forward; never the old job's in the new attempt.
  const seen = stream.events.map(align).filter((s): s is StepView => s !== undefined);
  assert.ok(seen.some((s) => s.step_attempt === 2), "the stream showed the second attempt");
  for (let i = 1; i < seen.length; i++) {
    const [a, b] = [seen[i - 1]!, seen[i]!];
    if (a.step_attempt === b.step_attempt) assert.ok((b.progress.done ?? 0) >= (a.progress.done ?? 0), `events went backwards: ${JSON.stringify(a)} then ${JSON.stringify(b)}`);
    if (b.step_attempt === 2) assert.notEqual(b.progress.compute_job_id, "job-1", `attempt 2 showed job-1's progress: ${JSON.stringify(b)}`);
  }
});

test("a worker that reattaches to a running job does not show less than the worker before it did, whatever it hears first", { timeout: 60_000 }, async () => {
  compute.holdPosts = false;
  // Not claimable before the step row below is in place.
  const [{ id }] = (await db.query<{ id: string }>(`insert into render_jobs (owner, request, run_at) values ('o', $1::jsonb, now() + interval '1 hour') returning id`, [JSON.stringify(REQUEST)])) as [{ id: string }];
  // The worker before it submitted the align job and saw it at 3 of 4, then went away.
  await saveStep(db, id, "align", { status: "running", step_attempt: 1, backend: "inhouse", compute_job_id: "job-before", idempotency_key: `${id}:align:1`,
    progress: { status: "running", backend: "inhouse", compute_job_id: "job-before", done: 3, total: 4, unit: "words", message: "" } });
  await db.query(`update render_jobs set run_at = now() where id = $1`, [id]);
  worker.poke();
  let poll = await compute.nextPoll();
  assert.equal(poll.req, "job-before", "reattached, not submitted again");
  poll.answer({ status: "running", done: 2, at: 5 }); // the first answer this worker hears: behind what was shown
  poll = await compute.nextPoll();
  const step = align(await get(id));
  assert.deepEqual([step?.step_attempt, step?.compute_job_id, step?.progress.done], [1, "job-before", 3]);
  poll.answer({ status: "failed", done: 3, at: 6, error: { code: "audio_silent", message: "no speech", retryable: false } });
  await until("the render failed", async () => (await getRender(db, id))?.status === "failed", 10_000, 20);
});
