/**
 * The owner's DELETE of a render whose step is still `submitting` with no job id (its worker
 * POSTed, got no answer, then stopped): the job that POST made is found by the step's key and
 * cancelled, on whichever backend holds it.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Db } from "../db/db.ts";
import { log } from "../log.ts";
import { Metrics } from "../metrics.ts";
import { claim, enqueue, saveStep } from "../queue/index.ts";
import { Router } from "../router/index.ts";
import { ScriptedCompute } from "../../test/support/scriptedCompute.ts";
import { until } from "../../test/support/until.ts";
import { parseTokens } from "./auth.ts";
import { buildApi } from "./server.ts";
import { openMigratedPglite, SMALL_REQUEST } from "../../test/support/migratedPglite.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

for (const holder of ["inhouse", "modal"] as const) {
  test(`DELETE cancels the job an unanswered POST made on ${holder}, found by the submitting step's key`, async () => {
    const inhouse = new ScriptedCompute("inhouse", () => ({ status: "running" }));
    const modal = new ScriptedCompute("modal", () => ({ status: "running" }));
    const router = new Router({ inhouse: inhouse.client(), modal: modal.client() }, { maxWaitMs: 5, lateSubmitMs: 0 });
    const api = buildApi({ db, router, metrics: new Metrics(), log, tokens: parseTokens("tok-alice:alice") });
    try {
      const { row } = await enqueue(db, { owner: "alice", request: SMALL_REQUEST, maxAttempts: 3 });
      await db.query(`update render_jobs set status = 'cancelled' where id <> $1 and status in ('queued', 'running')`, [row.id]);
      assert.equal((await claim(db, "w-gone", 30))?.id, row.id);
      const key = `${row.id}:images:1`;
      await saveStep(db, row.id, "images", { status: "submitting", step_attempt: 1, idempotency_key: key, backend: holder, compute_job_id: null });
      // The POST the worker got no answer to: the server made the job all the same.
      const made = await (holder === "inhouse" ? inhouse : modal).client().submit("generate_images", { prompts: [] }, key);

      const res = await api.inject({ method: "DELETE", url: `/v1/renders/${row.id}`, headers: { authorization: "Bearer tok-alice" } });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(JSON.parse(res.body).status, "cancelled");
      const jobs = holder === "inhouse" ? inhouse.jobs : modal.jobs;
      await until("the orphaned job cancelled", async () => jobs.get(made.id)?.status === "cancelled", 10_000, 5);
      assert.equal(inhouse.submitted("generate_images").length + modal.submitted("generate_images").length, 1, "the chase submits nothing");
    } finally {
      await router.close();
      await api.close();
    }
  });
}
