/**
 * A cancel answered `404 not_found` (a job the compute plane has no record of: never made, or
 * its record long expired) has nothing left to cancel: the step ends `cancelled`. It was taken
 * for a failed cancel, so the step stayed `running` and every orphan sweep tried it again until
 * it gave up hours later.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Db } from "../db/db.ts";
import { enqueue, listSteps, saveStep } from "../queue/index.ts";
import { Router } from "../router/index.ts";
import { ScriptedCompute } from "../../test/support/scriptedCompute.ts";
import { cancelComputeJobs } from "./cancelComputeJobs.ts";
import { openMigratedPglite, SMALL_REQUEST } from "../../test/support/migratedPglite.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

test("a job the compute plane does not know is nothing to cancel: its step ends cancelled, no failure logged", async () => {
  const inhouse = new ScriptedCompute("inhouse", () => ({ status: "running" }));
  const router = new Router({ inhouse: inhouse.client() }, { maxWaitMs: 5, lateSubmitMs: 0 });
  const lines: Record<string, unknown>[] = [];
  const log = { info: () => {}, warn: (o: Record<string, unknown>) => void lines.push(o), error: (o: Record<string, unknown>) => void lines.push(o) };
  try {
    const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 1 });
    await saveStep(db, row.id, "images", { status: "running", step_attempt: 1, backend: "inhouse", compute_job_id: "job-the-plane-never-had" });
    await cancelComputeJobs({ db, router, log: log as never }, row.id);
    assert.equal((await listSteps(db, row.id)).find((s) => s.step === "images")?.status, "cancelled");
    assert.deepEqual(lines.filter((l) => l.event === "cancel_cascade_failed"), []);
  } finally {
    await router.close();
  }
});
