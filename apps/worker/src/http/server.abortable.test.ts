/**
 * The API's close() waits for a DELETE's compute cancel only so long (drainTimeoutMs). Past
 * it, the cancel is abandoned: its step is left as it is (the database is closing), no
 * failure is logged for it, and the compute jobs it left running are named
 * (`cascade_abandoned`) for an operator to cancel. It used to run on with nothing to stop it,
 * log the job nowhere, and, failing once the process went down, report a misleading
 * `cancel_cascade_failed` (or write a step to a closed database).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ComputeClient } from "../client/modal-client.ts";
import { silentCompute } from "../client/silentCompute.abortable.support.ts";
import type { Db } from "../db/db.ts";
import { Metrics } from "../metrics.ts";
import { enqueue, listSteps, saveStep } from "../queue/index.ts";
import { Router } from "../router/index.ts";
import { until } from "../../test/support/until.ts";
import { openMigratedPglite, SMALL_REQUEST } from "../../test/support/migratedPglite.ts";
import { parseTokens } from "./auth.ts";
import { buildApi } from "./server.ts";
import { capturedLog } from "../../test/support/capturedLog.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

test("close() past its drain bound abandons a DELETE's compute cancel: the job named, its step untouched, no failure logged", async () => {
  const compute = await silentCompute(); // takes the DELETE, never answers it
  const { log, lines } = capturedLog();
  const inhouse = new ComputeClient({ name: "inhouse", baseUrl: compute.url, policy: { attemptTimeoutMs: 3_600_000, maxAttempts: 1 } }, { log });
  const router = new Router({ inhouse }, { log });
  const api = buildApi({ db, router, metrics: new Metrics(), log, tokens: parseTokens("tok-alice:alice"), drainTimeoutMs: 50 });
  let computeClosed = false;
  try {
    const { row } = await enqueue(db, { owner: "alice", request: SMALL_REQUEST, maxAttempts: 3 });
    // An earlier attempt's job, still running while the render waits in the queue.
    await saveStep(db, row.id, "images", { status: "running", step_attempt: 1, idempotency_key: `${row.id}:images:1`, backend: "inhouse", compute_job_id: "job-1" });
    const res = await api.inject({ method: "DELETE", url: `/v1/renders/${row.id}`, headers: { authorization: "Bearer tok-alice" } });
    assert.equal(res.statusCode, 200, res.body);
    await until("the cancel under way, and hanging", async () => compute.seen.includes("DELETE /v1/jobs/job-1"), 10_000, 5);
    await api.close(); // past its bound
    assert.equal(lines.filter((l) => l.event === "api_drain_timeout").length, 1);
    const abandoned = lines.filter((l) => l.event === "cascade_abandoned");
    assert.equal(abandoned.length, 1, "the job left running is named");
    assert.deepEqual(abandoned[0]!.jobs, [{ step: "images", backend: "inhouse", compute_job_id: "job-1" }]);
    // The process going down cuts the connection: the abandoned cancel (unless aborted already) fails, quietly, touching nothing.
    const abortedAlready = compute.closedByClient() === 1;
    await compute.close();
    computeClosed = true;
    if (!abortedAlready) await until("the abandoned cancel failed", async () => lines.some((l) => l.event === "give_up"), 10_000, 5);
    await new Promise((r) => setImmediate(r)); // its catch runs right after the give-up
    await router.close();
    assert.equal(lines.filter((l) => l.event === "cancel_cascade_failed").length, 0, "an abandoned cancel is not reported failed");
    assert.equal((await listSteps(db, row.id)).find((s) => s.step === "images")?.status, "running", "its step left as it was");
  } finally {
    if (!computeClosed) await compute.close();
    await api.close();
    await router.close();
  }
});
