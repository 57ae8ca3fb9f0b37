/**
 * The durable long-job protocol on a real compute server (diagnostic jobs stand in for the
 * heavy kinds): resume, reattach, new attempts, and cancel cascading to compute jobs.
 */
import assert from "node:assert/strict";
import { after, before, describe, mock, test } from "node:test";
import { HttpError } from "../client/errors.ts";
import { ComputeClient } from "../client/modal-client.ts";
import type { Db } from "../db/db.ts";
import { migrate } from "../db/migrate.ts";
import { openPglite } from "../db/pglite.ts";
import { openPostgres } from "../db/postgres.ts";
import { buildApi } from "../http/server.ts";
import { parseTokens } from "../http/auth.ts";
import { log } from "../log.ts";
import { Metrics } from "../metrics.ts";
import { claim, enqueue, getRender, listSteps, saveStep, type RenderRow } from "../queue/index.ts";
import { abortableSleep, NoBackendError, Router } from "../router/index.ts";
import type { Publisher } from "../storage/publisher.ts";
import { ComputeServer } from "../../test/support/computeServer.ts";
import { createTestDatabase } from "../../test/support/postgres.ts";
import { tempDir } from "../../test/support/tmp.ts";
import { until } from "../../test/support/until.ts";
import { runComputeStep } from "./computeStep.ts";
import { RenderAborted, StepError } from "./errors.ts";
import type { RenderContext } from "./types.ts";

const TOKEN = "step-test-token";

describe("compute steps on a real compute server", () => {
  const dir = tempDir("cc-steps-");
  const pg = createTestDatabase("cc_steps");
  const server = new ComputeServer({ dataDir: dir.path, token: TOKEN, kinds: ["diagnostic"], pools: { diagnostic: { workers: 2, queue: 8 } } });
  let db: Db;
  let client: ComputeClient;
  let router: Router;
  const metrics = new Metrics();

  before(async () => {
    await server.start();
    db = openPostgres(pg.url, 3);
    await migrate(db);
    client = new ComputeClient({ name: "inhouse", baseUrl: server.url, token: TOKEN }, { metrics });
    router = new Router({ inhouse: client }, { metrics });
  });
  after(async () => {
    await db.close();
    await server.stop();
    pg.drop();
    dir.cleanup();
  });

  async function freshRender(): Promise<RenderRow> {
    const { row } = await enqueue(db, { owner: "steps", request: { scenes: [], narration_audio: "x" } });
    await db.query(`update render_jobs set status = 'cancelled' where id <> $1 and status in ('queued', 'running')`, [row.id]);
    const claimed = await claim(db, "w-test", 60);
    assert.equal(claimed?.id, row.id);
    return claimed!;
  }

  async function ctxFor(render: RenderRow, signal = new AbortController().signal): Promise<RenderContext> {
    const steps = new Map((await listSteps(db, render.id)).map((s) => [s.step, s]));
    return {
      deps: { db, router, publisher: {} as Publisher, metrics, log, workerId: "w-test", poll: { minIntervalMs: 50, maxIntervalMs: 200 } },
      render, steps, signal,
    };
  }
  const decisions = async (id: string) => (await db.query<{ n: number }>(`select count(*)::int as n from route_decisions where render_id = $1`, [id]))[0]!.n;

  test("a finished step returns its persisted output and never runs again", async () => {
    const r = await freshRender();
    const out = await runComputeStep(await ctxFor(r), "render", "diagnostic", () => ({ action: "succeed", payload: "once" }));
    assert.equal(out.echo, "once");
    const [step] = await listSteps(db, r.id);
    assert.equal(step?.status, "succeeded");
    assert.equal(step?.idempotency_key, `${r.id}:render:1`);
    assert.equal(step?.backend, "inhouse");
    assert.equal(step?.route_reason, "inhouse_first");
    const again = await runComputeStep(await ctxFor(r), "render", "diagnostic", () => { throw new Error("must not build the input again"); });
    assert.deepEqual(again, out);
    assert.equal(await decisions(r.id), 1);
    const text = await metrics.text();
    assert.match(text, /canvascast_compute_invocations_total\{backend="inhouse",kind="diagnostic",outcome="succeeded"\} \d+/);
    assert.match(text, /canvascast_compute_duration_seconds_count\{backend="inhouse",kind="diagnostic"\} \d+/);
    assert.match(text, /canvascast_compute_queue_seconds_count\{backend="inhouse",kind="diagnostic"\} \d+/);
    assert.match(text, /canvascast_routing_decisions_total\{backend="inhouse",reason="inhouse_first"\} \d+/);
  });

  test("a failed job fails the step; the retry is a new step attempt with a new key", async () => {
    const r = await freshRender();
    await assert.rejects(
      runComputeStep(await ctxFor(r), "render", "diagnostic", () => ({ action: "fail" })),
      (e: unknown) => e instanceof StepError && e.step === "render",
    );
    const [failed] = await listSteps(db, r.id);
    assert.equal(failed?.status, "failed");
    const out = await runComputeStep(await ctxFor(r), "render", "diagnostic", () => ({ action: "succeed", payload: "second" }));
    assert.equal(out.echo, "second");
    const [ok] = await listSteps(db, r.id);
    assert.equal(ok?.step_attempt, 2);
    assert.equal(ok?.idempotency_key, `${r.id}:render:2`);
    assert.notEqual(ok?.compute_job_id, failed?.compute_job_id);
  });

  test("a restarted worker reattaches to the running compute job instead of submitting", async () => {
    const r = await freshRender();
    const job = await client.submit("diagnostic", { action: "sleep", seconds: 1, payload: "attached" }, `${r.id}:align:1`);
    await saveStep(db, r.id, "align", { status: "running", step_attempt: 1, backend: "inhouse", compute_job_id: job.id, idempotency_key: `${r.id}:align:1` });
    const out = await runComputeStep(await ctxFor(r), "align", "diagnostic", () => { throw new Error("must not resubmit"); });
    assert.equal(out.echo, "attached");
    assert.equal(await decisions(r.id), 0, "no routing: it reattached");
    assert.equal((await server.job(job.id)).attempts, 1);
  });

  test("killed between submit and recording the job id: the same key on the same backend finds the job", async () => {
    const r = await freshRender();
    const key = `${r.id}:images:1`;
    const job = await client.submit("diagnostic", { action: "succeed", payload: "dedup" }, key);
    await saveStep(db, r.id, "images", { status: "submitting", step_attempt: 1, backend: "inhouse", idempotency_key: key });
    const out = await runComputeStep(await ctxFor(r), "images", "diagnostic", () => ({ action: "succeed", payload: "dedup" }));
    assert.equal(out.echo, "dedup");
    assert.equal((await listSteps(db, r.id))[0]?.compute_job_id, job.id, "the idempotency key returned the same job");
  });

  test("cancelling a render cancels its running compute job (worker side)", async () => {
    const r = await freshRender();
    const ac = new AbortController();
    const running = runComputeStep(await ctxFor(r, ac.signal), "render", "diagnostic", () => ({ action: "sleep", seconds: 60 }));
    const step = await until("the step to run a compute job", async () => (await listSteps(db, r.id)).find((s) => s.status === "running" && s.compute_job_id), 30_000);
    ac.abort(new RenderAborted("cancelled"));
    await assert.rejects(running, RenderAborted);
    const job = await until("the compute job", async () => {
      const j = await server.job(step.compute_job_id!);
      return j.status === "cancelled" ? j : null;
    }, 30_000);
    assert.equal(job.status, "cancelled");
    assert.equal((await listSteps(db, r.id))[0]?.status, "cancelled");
  });

  test("DELETE /v1/renders/:id cascades to the running compute jobs (API side)", async () => {
    const r = await freshRender();
    const job = await client.submit("diagnostic", { action: "sleep", seconds: 60 }, `${r.id}:render:1`);
    await saveStep(db, r.id, "render", { status: "running", step_attempt: 1, backend: "inhouse", compute_job_id: job.id });
    const app = buildApi({ db, router, metrics, log, tokens: parseTokens("tok:steps") });
    const base = await app.listen({ host: "127.0.0.1", port: 0 });
    try {
      const res = await fetch(`${base}/v1/renders/${r.id}`, { method: "DELETE", headers: { authorization: "Bearer tok" } });
      assert.equal(res.status, 200);
      assert.equal(((await res.json()) as { status: string }).status, "cancelled");
      const j = await until("the compute job to be cancelled", async () => {
        const x = await server.job(job.id);
        return x.status === "cancelled" ? x : null;
      }, 30_000);
      assert.equal(j.status, "cancelled");
    } finally {
      await app.close();
    }
  });
});

/**
 * A step whose submission fails (no compute job ever made): its row is ended, never left
 * `submitting`, and the render names it. Backends scripted behind ComputeClient's fetch seam.
 */
const engines: Array<[string, () => Promise<{ db: Db; done: () => Promise<void> }>]> = [
  ["pglite", async () => {
    const db = await openPglite();
    return { db, done: () => db.close() };
  }],
  ["postgres", async () => {
    const t = createTestDatabase("cc_steps_submit");
    const db = openPostgres(t.url, 2);
    return { db, done: async () => { await db.close(); t.drop(); } };
  }],
];

for (const [engine, open] of engines) {
  describe(`a compute step that cannot be placed (${engine})`, () => {
    let db: Db;
    let done: () => Promise<void>;
    before(async () => {
      ({ db, done } = await open());
      await migrate(db);
    });
    after(async () => done());

    const refused = () => Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNREFUSED", message: "connect ECONNREFUSED" } });
    const answer = (status: number, code: string) => new Response(JSON.stringify({ error: { code, message: `${code} here`, retryable: false } }), { status, headers: { "content-type": "application/json" } });
    /** An in-house backend answering every POST with `post()` (a Response, or a thrown transport error); no Modal. */
    const inhouseOnly = (post: () => Response, deps: ConstructorParameters<typeof Router>[1] = {}) => {
      const f = (async () => post()) as unknown as typeof fetch;
      const client = new ComputeClient({ name: "inhouse", baseUrl: "http://inhouse.scripted", policy: { maxAttempts: 1, minimumRps: 1000 } }, { fetch: f });
      return new Router({ inhouse: client }, { maxWaitMs: 1000, ...deps });
    };
    async function running(router: Router, signal = new AbortController().signal): Promise<RenderContext> {
      const { row } = await enqueue(db, { owner: "steps", request: { scenes: [], narration_audio: "x" } });
      await db.query(`update render_jobs set status = 'cancelled' where id <> $1 and status in ('queued', 'running')`, [row.id]);
      const render = (await claim(db, "w-test", 60))!;
      assert.equal(render.id, row.id);
      // The other branch's progress names its step first: the failing step must take the name over.
      await db.query(`update render_jobs set step = 'images', progress = '{"images": {"status": "running"}}' where id = $1`, [row.id]);
      return { deps: { db, router, publisher: {} as Publisher, metrics: new Metrics(), log, workerId: "w-test" }, render, steps: new Map(), signal };
    }
    const stepOf = async (ctx: RenderContext) => (await listSteps(db, ctx.render.id)).find((s) => s.step === "align")!;

    test("refused with a 4xx: the step is failed with the error and named on the render; the error is rethrown", async () => {
      const ctx = await running(inhouseOnly(() => answer(422, "invalid_input")));
      await assert.rejects(runComputeStep(ctx, "align", "diagnostic", () => ({})), (e: unknown) => e instanceof HttpError && e.status === 422);
      const step = await stepOf(ctx);
      assert.equal(step.status, "failed");
      assert.deepEqual(step.error, { code: "invalid_input", message: step.error?.message, retryable: false });
      assert.ok(step.finished_at, "finished_at set");
      const render = await getRender(db, ctx.render.id);
      assert.equal(render?.step, "align");
      assert.deepEqual((render?.progress as Record<string, unknown>).align, { status: "failed", message: `invalid_input: ${step.error?.message}` });
    });

    test("no backend within the wait budget: the step is failed with no_backend (retryable); the next attempt is a new step attempt", async () => {
      mock.timers.enable({ apis: ["Date"], now: Date.now() });
      try {
        const router = inhouseOnly(() => { throw refused(); }, { waitBudgetMs: 5000, sleep: async (ms) => void mock.timers.tick(ms) });
        const ctx = await running(router);
        await assert.rejects(runComputeStep(ctx, "align", "diagnostic", () => ({})), NoBackendError);
        const step = await stepOf(ctx);
        assert.deepEqual([step.status, step.error?.code, step.error?.retryable, Boolean(step.finished_at)], ["failed", "no_backend", true, true]);
        assert.equal((await getRender(db, ctx.render.id))?.step, "align");
        // The retry: a new attempt of the step, with a new key.
        const again: RenderContext = { ...ctx, deps: { ...ctx.deps, router: inhouseOnly(() => answer(400, "bad_request")) }, steps: new Map([["align", step]]) };
        await assert.rejects(runComputeStep(again, "align", "diagnostic", () => ({})), HttpError);
        const retried = await stepOf(ctx);
        assert.deepEqual([retried.step_attempt, retried.idempotency_key], [2, `${ctx.render.id}:align:2`]);
      } finally {
        mock.timers.reset();
      }
    });

    test("cancelled while waiting for a backend: the step is cancelled; a shutdown leaves it submitting, to resubmit the same key", async () => {
      for (const reason of ["cancelled", "shutdown"] as const) {
        const ac = new AbortController();
        // In-house full, no Modal: the router waits; the render is aborted during the wait.
        const router = inhouseOnly(() => answer(429, "capacity"), { sleep: (ms, signal) => (ac.abort(new RenderAborted(reason)), abortableSleep(ms, signal)) });
        const ctx = await running(router, ac.signal);
        await assert.rejects(runComputeStep(ctx, "align", "diagnostic", () => ({})), (e: unknown) => e instanceof RenderAborted && e.reason === reason);
        const step = await stepOf(ctx);
        if (reason === "cancelled") {
          assert.deepEqual([step.status, Boolean(step.finished_at)], ["cancelled", true]);
        } else {
          assert.deepEqual([step.status, step.backend, step.idempotency_key, step.finished_at], ["submitting", "inhouse", `${ctx.render.id}:align:1`, null]);
        }
      }
    });
  });
}
