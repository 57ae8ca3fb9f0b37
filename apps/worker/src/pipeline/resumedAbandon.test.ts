/**
 * A step resumed in `submitting` (its worker died between a POST and recording the job id)
 * whose placement then fails: the key is chased on both backends, since the dead worker's
 * POST may have made a job this worker never saw.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ComputeClient } from "../client/modal-client.ts";
import type { Db } from "../db/db.ts";
import { log } from "../log.ts";
import { Metrics } from "../metrics.ts";
import { claim, enqueue, listSteps, saveStep } from "../queue/index.ts";
import { Router } from "../router/index.ts";
import type { Publisher } from "../storage/publisher.ts";
import { openMigratedPglite, SMALL_REQUEST } from "../../test/support/migratedPglite.ts";
import { ScriptedCompute } from "../../test/support/scriptedCompute.ts";
import { until } from "../../test/support/until.ts";
import { runComputeStep } from "./computeStep.ts";
import type { RenderContext } from "./types.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

const POLICY = { attemptTimeoutMs: 2000, maxAttempts: 1, initialDelayMs: 5, maxDelayMs: 10, minimumRps: 1e6 };

/** `server` behind a fetch that answers what `answer` returns (null: the server answers). */
function answering(server: ScriptedCompute, answer: (method: string, url: URL) => Response | null): ComputeClient {
  const f = (async (url: string | URL | Request, init: RequestInit = {}) => answer(init.method ?? "GET", new URL(String(url))) ?? server.fetch(url, init)) as typeof fetch;
  return new ComputeClient({ name: server.name, baseUrl: `http://${server.name}.scripted`, policy: POLICY }, { metrics: new Metrics(), log, fetch: f });
}
const refusal = (status: number, code: string) =>
  new Response(JSON.stringify({ error: { code, message: code, retryable: true } }), { status, headers: { "content-type": "application/json", "retry-after": "0" } });

test("a resumed submitting step whose placement fails: the dead worker's job is found by key and cancelled", async () => {
  const inhouse = new ScriptedCompute("inhouse", () => ({ status: "running" }));
  const modal = new ScriptedCompute("modal", () => ({ status: "running" }));
  const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST });
  await db.query(`update render_jobs set status = 'cancelled' where id <> $1 and status in ('queued', 'running')`, [row.id]);
  const render = (await claim(db, "w1", 30))!;
  const key = `${render.id}:render:1`;
  // The dead worker POSTed the key to Modal (the job was made, the answer lost) and died before recording it.
  const orphan = await modal.client().submit("diagnostic", {}, key);
  await saveStep(db, render.id, "render", { status: "submitting", step_attempt: 1, idempotency_key: key, backend: "modal" });
  let modalDown = true;
  const router = new Router({
    inhouse: answering(inhouse, (m) => (m === "POST" ? refusal(429, "capacity") : null)),
    modal: answering(modal, () => (modalDown ? refusal(503, "modal_unavailable") : null)),
  }, { maxWaitMs: 5, waitBudgetMs: 50, lateSubmitMs: 60_000 });
  try {
    const steps = new Map((await listSteps(db, render.id)).map((s) => [s.step, s]));
    const ctx: RenderContext = {
      deps: { db, router, publisher: {} as Publisher, metrics: new Metrics(), log, workerId: "w1", poll: { minIntervalMs: 5, maxIntervalMs: 10 } },
      render, steps, signal: new AbortController().signal,
    };
    await assert.rejects(runComputeStep(ctx, "render", "diagnostic", () => ({}))); // no backend within the budget
    modalDown = false; // Modal answers again: the chase finds the dead worker's job
    await until("the orphan cancelled", async () => modal.jobs.get(orphan.id)?.status === "cancelled", 10_000, 5);
  } finally {
    await router.close();
  }
});
