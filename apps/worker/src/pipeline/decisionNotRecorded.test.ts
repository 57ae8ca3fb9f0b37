/**
 * A step whose job was placed, but whose routing decision could not be written (a database
 * blip on the route_decisions insert, after the POST was answered): the job exists and its
 * key finds it. The next attempt must take that job up again, not mark the step failed and
 * pay for a second job under a new key while the first one runs on with nobody polling it.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Db } from "../db/db.ts";
import { migrate } from "../db/migrate.ts";
import { openPglite } from "../db/pglite.ts";
import { log } from "../log.ts";
import { Metrics } from "../metrics.ts";
import { claim, enqueue, listSteps, type RenderRow } from "../queue/index.ts";
import { Router } from "../router/index.ts";
import type { Publisher } from "../storage/publisher.ts";
import { ScriptedCompute } from "../../test/support/scriptedCompute.ts";
import { until } from "../../test/support/until.ts";
import { runComputeStep } from "./computeStep.ts";
import { RenderAborted } from "./errors.ts";
import type { RenderContext } from "./types.ts";

let db: Db;
before(async () => {
  db = await openPglite();
  await migrate(db);
});
after(() => db.close());

/** `db`, except that the first route_decisions insert fails as a dropped connection would. */
function decisionInsertFailsOnce(inner: Db): Db {
  let failed = false;
  return Object.assign(Object.create(inner) as Db, {
    async query(text: string, params?: unknown[]) {
      if (!failed && /insert into public\.route_decisions/.test(text)) {
        failed = true;
        throw new Error("Connection terminated unexpectedly");
      }
      return inner.query(text, params);
    },
  });
}

async function ctxFor(render: RenderRow, router: Router, onDb: Db): Promise<RenderContext> {
  const steps = new Map((await listSteps(db, render.id)).map((s) => [s.step, s]));
  return { deps: { db: onDb, router, publisher: {} as Publisher, metrics: new Metrics(), log, workerId: "w1", poll: { minIntervalMs: 5, maxIntervalMs: 10 } }, render, steps, signal: new AbortController().signal };
}

test("the decision insert fails after the job was placed: the next attempt reattaches to that job, no second one", async () => {
  const inhouse = new ScriptedCompute("inhouse", () => ({ status: "succeeded", result: { ok: 1 } }));
  const router = new Router({ inhouse: inhouse.client() }, { maxWaitMs: 20, lateSubmitMs: 0 });
  try {
    const { row } = await enqueue(db, { owner: "o", request: { scenes: [], narration_audio: "x" } });
    const render = (await claim(db, "w1", 30))!;
    assert.equal(render.id, row.id);
    await assert.rejects(runComputeStep(await ctxFor(render, router, decisionInsertFailsOnce(db)), "render", "diagnostic" as never, () => ({})), /Connection terminated/);
    assert.equal(inhouse.submitted("diagnostic").length, 1);

    const out = await runComputeStep(await ctxFor(render, router, db), "render", "diagnostic" as never, () => ({}));
    assert.deepEqual(out, { ok: 1 });
    assert.equal(inhouse.submitted("diagnostic").length, 1, "the job already placed is the step's job: no second one is paid for");
    const [step] = await listSteps(db, render.id);
    assert.equal(step?.status, "succeeded");
    assert.equal(step?.compute_job_id, inhouse.submitted("diagnostic")[0]?.id);
  } finally {
    await router.close();
  }
});

test("the render is cancelled while the decision is written, and the write fails: the placed job is found by key and cancelled", async () => {
  const inhouse = new ScriptedCompute("inhouse", () => ({ status: "running" }));
  const router = new Router({ inhouse: inhouse.client() }, { maxWaitMs: 20, lateSubmitMs: 0 });
  try {
    const { row } = await enqueue(db, { owner: "o", request: { scenes: [], narration_audio: "x" } });
    await db.query(`update render_jobs set status = 'cancelled' where id <> $1 and status in ('queued', 'running')`, [row.id]);
    const render = (await claim(db, "w1", 30))!;
    const stop = new AbortController();
    const cancelledMidWrite = Object.assign(Object.create(db) as Db, {
      async query(text: string, params?: unknown[]) {
        if (/insert into public\.route_decisions/.test(text)) {
          stop.abort(new RenderAborted("cancelled")); // the heartbeat saw the owner's DELETE
          throw new Error("Connection terminated unexpectedly");
        }
        return db.query(text, params);
      },
    });
    const ctx = { ...(await ctxFor(render, router, cancelledMidWrite)), signal: stop.signal };
    await assert.rejects(runComputeStep(ctx, "render", "diagnostic" as never, () => ({})));
    const [job] = inhouse.submitted("diagnostic");
    await until("the placed job is cancelled", async () => job?.status === "cancelled", 10_000, 10);
  } finally {
    await router.close();
  }
});
