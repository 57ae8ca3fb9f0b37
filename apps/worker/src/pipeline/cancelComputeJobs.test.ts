/**
 * What the cascade of a render that is over cancels: the jobs its steps waited on, a job
 * whose polls never got through (`compute_unreachable`: never known to end), and, for a step
 * caught mid-placement, whatever job a POST of its key made.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Db } from "../db/db.ts";
import { log } from "../log.ts";
import { enqueue, listSteps, saveStep } from "../queue/index.ts";
import { Router } from "../router/index.ts";
import { ScriptedCompute } from "../../test/support/scriptedCompute.ts";
import { until } from "../../test/support/until.ts";
import { cancelComputeJobs } from "./cancelComputeJobs.ts";
import { COMPUTE_UNREACHABLE } from "./waitForJob.ts";
import { openMigratedPglite, SMALL_REQUEST } from "../../test/support/migratedPglite.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

test("a render over for good: its unreachable step's job and a mid-placement step's unknown job are cancelled", async () => {
  const inhouse = new ScriptedCompute("inhouse", () => ({ status: "running" }));
  const modal = new ScriptedCompute("modal", () => ({ status: "running" }));
  const router = new Router({ inhouse: inhouse.client(), modal: modal.client() }, { maxWaitMs: 5, lateSubmitMs: 0 });
  try {
    const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 1 });
    // images: the last attempt's polls never got through; its job runs on, as far as anyone knows.
    const unreachable = await modal.client().submit("generate_images", {}, `${row.id}:images:1`);
    await saveStep(db, row.id, "images", { status: "failed", step_attempt: 1, backend: "modal", compute_job_id: unreachable.id,
      idempotency_key: `${row.id}:images:1`, error: { code: COMPUTE_UNREACHABLE, message: "unreachable", retryable: true } });
    // align: its worker died between the POST and recording the job id.
    const unknown = await inhouse.client().submit("transcribe_audio", {}, `${row.id}:align:1`);
    await saveStep(db, row.id, "align", { status: "submitting", step_attempt: 1, backend: "inhouse", compute_job_id: null, idempotency_key: `${row.id}:align:1` });

    await cancelComputeJobs({ db, router, log }, row.id);
    assert.equal(modal.jobs.get(unreachable.id)?.status, "cancelled");
    assert.equal((await listSteps(db, row.id)).find((s) => s.step === "images")?.status, "cancelled");
    await until("the unknown job found by key and cancelled", async () => inhouse.jobs.get(unknown.id)?.status === "cancelled", 10_000, 5);
    assert.equal(inhouse.submitted("transcribe_audio").length + modal.submitted("generate_images").length, 2, "nothing submitted by the cascade");
  } finally {
    await router.close();
  }
});
