/**
 * A step resumed in `submitting` (its worker died between a POST and recording the job id)
 * may have a job for its key on either backend: the router tries in-house first on every
 * round, and the row names only the last backend tried. Wherever the resumed step is placed,
 * a job for the same key on the other backend is a copy nobody would poll (and, on Modal,
 * one that bills): it is found by key and cancelled.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ComputeClient } from "../client/modal-client.ts";
import type { Db } from "../db/db.ts";
import { migrate } from "../db/migrate.ts";
import { openPglite } from "../db/pglite.ts";
import { log } from "../log.ts";
import { Metrics } from "../metrics.ts";
import { claim, enqueue, listSteps, saveStep, type RenderRow } from "../queue/index.ts";
import { Router } from "../router/index.ts";
import type { Publisher } from "../storage/publisher.ts";
import { ScriptedCompute } from "../../test/support/scriptedCompute.ts";
import { until } from "../../test/support/until.ts";
import { runComputeStep } from "./computeStep.ts";
import type { RenderContext } from "./types.ts";

let db: Db;
before(async () => {
  db = await openPglite();
  await migrate(db);
});
after(() => db.close());

const POLICY = { attemptTimeoutMs: 2000, maxAttempts: 1, initialDelayMs: 5, maxDelayMs: 10, minimumRps: 1e6 };

/** A scripted backend that answers 503 to everything while `down`. */
function backend(server: ScriptedCompute, down: { on: boolean }): ComputeClient {
  const f = (async (url: string | URL | Request, init: RequestInit = {}) => {
    if (down.on) return new Response(JSON.stringify({ error: { code: "upstream_unavailable", message: "down", retryable: true } }), { status: 503 });
    return server.fetch(url, init);
  }) as typeof fetch;
  return new ComputeClient({ name: server.name, baseUrl: `http://${server.name}.scripted`, policy: POLICY }, { metrics: new Metrics(), log, fetch: f });
}

/** The dead worker's POST: a job for `key` on `server`, made with no answer recorded. */
async function madeByDeadWorker(server: ScriptedCompute, key: string): Promise<string> {
  const res = await server.fetch(`http://${server.name}.scripted/v1/jobs`, { method: "POST", body: JSON.stringify({ kind: "diagnostic", input: {}, idempotency_key: key }) });
  return ((await res.json()) as { id: string }).id;
}

async function resumed(lastTried: "inhouse" | "modal"): Promise<{ render: RenderRow; key: string }> {
  const { row } = await enqueue(db, { owner: "o", request: { scenes: [], narration_audio: "x" } });
  await db.query(`update render_jobs set status = 'cancelled' where id <> $1 and status in ('queued', 'running')`, [row.id]);
  const render = (await claim(db, "w1", 30))!;
  const key = `${render.id}:render:1`;
  await saveStep(db, render.id, "render", { status: "submitting", step_attempt: 1, idempotency_key: key, backend: lastTried });
  return { render, key };
}

async function ctxFor(render: RenderRow, router: Router): Promise<RenderContext> {
  const steps = new Map((await listSteps(db, render.id)).map((s) => [s.step, s]));
  return { deps: { db, router, publisher: {} as Publisher, metrics: new Metrics(), log, workerId: "w1", poll: { minIntervalMs: 5, maxIntervalMs: 10 } }, render, steps, signal: new AbortController().signal };
}

test("resumed on in-house because Modal, tried last, cannot answer: the Modal job the dead worker's POST made is cancelled once it can", async () => {
  const inhouse = new ScriptedCompute("inhouse", () => ({ status: "succeeded", result: { ok: "inhouse" } }));
  const modal = new ScriptedCompute("modal", () => ({ status: "running" }));
  const modalDown = { on: false };
  const router = new Router({ inhouse: backend(inhouse, { on: false }), modal: backend(modal, modalDown) }, { maxWaitMs: 20, lateSubmitMs: 0 });
  try {
    const { render, key } = await resumed("modal");
    const copy = await madeByDeadWorker(modal, key);
    modalDown.on = true; // Modal's front door fails the key lookup (and would fail a resubmission)
    const out = await runComputeStep(await ctxFor(render, router), "render", "diagnostic", () => ({}));
    assert.deepEqual(out, { ok: "inhouse" }, "the step went to in-house");
    assert.equal(router.reclaiming, 1, "Modal is being chased for the key");
    modalDown.on = false;
    await until("the chase over", async () => router.reclaiming === 0, 10_000, 5);
    assert.equal(modal.jobs.get(copy)?.status, "cancelled", "the Modal copy nobody polls was cancelled");
  } finally {
    await router.close();
  }
});

test("resumed on Modal, tried last: the in-house job an earlier round's unanswered POST made is cancelled", async () => {
  const inhouse = new ScriptedCompute("inhouse", () => ({ status: "running" }));
  const modal = new ScriptedCompute("modal", () => ({ status: "succeeded", result: { ok: "modal" } }));
  const router = new Router({ inhouse: backend(inhouse, { on: false }), modal: backend(modal, { on: false }) }, { maxWaitMs: 20, lateSubmitMs: 0 });
  try {
    const { render, key } = await resumed("modal");
    const copy = await madeByDeadWorker(inhouse, key);
    await madeByDeadWorker(modal, key);
    const out = await runComputeStep(await ctxFor(render, router), "render", "diagnostic", () => ({}));
    assert.deepEqual(out, { ok: "modal" });
    await until("the chase over", async () => router.reclaiming === 0, 10_000, 5);
    assert.equal(inhouse.jobs.get(copy)?.status, "cancelled", "the in-house copy nobody polls was cancelled");
  } finally {
    await router.close();
  }
});

test("resumed with Modal tried last but no job made there: in-house, which has room now, is filled first", async () => {
  const inhouse = new ScriptedCompute("inhouse", () => ({ status: "succeeded", result: { ok: "inhouse" } }));
  const modal = new ScriptedCompute("modal", () => ({ status: "succeeded", result: { ok: "modal" } }));
  const router = new Router({ inhouse: backend(inhouse, { on: false }), modal: backend(modal, { on: false }) }, { maxWaitMs: 20, lateSubmitMs: 0 });
  try {
    const { render } = await resumed("modal"); // in-house was full then; the POST to Modal never got there
    const out = await runComputeStep(await ctxFor(render, router), "render", "diagnostic", () => ({}));
    assert.deepEqual(out, { ok: "inhouse" }, "the overflow backend is not paid for while in-house has room");
    assert.equal(modal.jobs.size, 0);
    const [step] = await listSteps(db, render.id);
    assert.equal(step?.backend, "inhouse");
    assert.equal(step?.route_reason, "inhouse_first");
  } finally {
    await router.close();
  }
});

test("resumed with the dead worker's job already made on Modal: that job is the step's, nothing is submitted", async () => {
  const inhouse = new ScriptedCompute("inhouse", () => ({ status: "succeeded", result: { ok: "inhouse" } }));
  const modal = new ScriptedCompute("modal", () => ({ status: "succeeded", result: { ok: "modal" } }));
  const router = new Router({ inhouse: backend(inhouse, { on: false }), modal: backend(modal, { on: false }) }, { maxWaitMs: 20, lateSubmitMs: 0 });
  try {
    const { render, key } = await resumed("modal");
    const made = await madeByDeadWorker(modal, key);
    const out = await runComputeStep(await ctxFor(render, router), "render", "diagnostic", () => ({}));
    assert.deepEqual(out, { ok: "modal" });
    assert.equal(inhouse.jobs.size, 0, "no second job in-house");
    assert.equal((await listSteps(db, render.id))[0]?.compute_job_id, made);
  } finally {
    await router.close();
  }
});
