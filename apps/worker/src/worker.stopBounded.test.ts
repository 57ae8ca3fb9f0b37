/**
 * stop() waits for the compute cancels of renders that are over, but only so long
 * (`drainTimeoutMs`): a compute plane that takes the connection and never answers (or a
 * breaker that keeps retrying) used to hold stop() with no bound, so a redeploy's SIGKILL cut
 * the rest of the stop (the database never closed, pending removals never logged). The
 * cancels still pending are abandoned and their compute job ids logged (`cascade_abandoned`),
 * for an operator to cancel: nothing on the compute plane reaps a job nobody polls.
 */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { ComputeClient } from "./client/modal-client.ts";
import type { Db } from "./db/db.ts";
import { Metrics } from "./metrics.ts";
import { claim, enqueue, getRender, listSteps, saveStep } from "./queue/index.ts";
import { Router } from "./router/index.ts";
import { Worker } from "./worker.ts";
import { recordingPublisher } from "../test/support/publishing.ts";
import { TEST_WORKER_OPTIONS } from "../test/support/testWorker.ts";
import { until } from "../test/support/until.ts";
import { openMigratedPglite, SMALL_REQUEST } from "../test/support/migratedPglite.ts";
import { capturedLog } from "../test/support/capturedLog.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

/** A compute plane that takes every DELETE and never answers it (held until the test ends). */
async function hangingCompute(): Promise<{ url: string; cancels: string[]; close: () => Promise<void> }> {
  const cancels: string[] = [];
  const held: ServerResponse[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method === "DELETE") {
      cancels.push(decodeURIComponent(req.url!.split("/").pop()!));
      held.push(res);
      return;
    }
    res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: "not_found", message: req.url } }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    cancels,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

test("stop() gives up on a cancel the compute plane never answers, within its drain bound, and logs the job left running", async () => {
  const compute = await hangingCompute();
  const { log, lines } = capturedLog();
  // One attempt that would wait an hour for its answer: only the drain bound can end the wait.
  const inhouse = new ComputeClient({ name: "inhouse", baseUrl: compute.url, policy: { attemptTimeoutMs: 3_600_000, maxAttempts: 1 } }, { log });
  const router = new Router({ inhouse }, { log });
  const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 1 });
  await db.query(`update render_jobs set status = 'cancelled' where id <> $1 and status in ('queued', 'running')`, [row.id]);
  // A worker died on the render's last attempt with both steps' jobs running: the next one reaps it dead and cancels them.
  await claim(db, "dead-worker", -1);
  for (const step of ["images", "align"] as const) {
    await saveStep(db, row.id, step, { status: "running", step_attempt: 1, idempotency_key: `${row.id}:${step}:1`, backend: "inhouse", compute_job_id: `job-${step}` });
  }
  const w = new Worker({ db, router, publisher: recordingPublisher().publisher, metrics: new Metrics(), log, workerId: "w2" }, { ...TEST_WORKER_OPTIONS, drainTimeoutMs: 50 });
  w.start();
  let stopped = false;
  try {
    await until("the render reaped", async () => (await getRender(db, row.id))?.status === "dead", 10_000, 10);
    await until("both cancels sent, and hanging", async () => compute.cancels.length === 2, 10_000, 10);
    const stop = w.stop().then(() => (stopped = true));
    // Not a duration: a stop left waiting on the hung cancel would wait an hour; this only keeps a failure from hanging the run.
    await until("stop() resolved", async () => stopped, 10_000, 10).catch(() => assert.fail("stop() still waiting on a cancel the compute plane never answers"));
    await stop;
    const abandoned = lines.filter((l) => l.event === "cascade_abandoned");
    assert.equal(abandoned.length, 1, "one line for the render whose cancels were abandoned");
    assert.equal(abandoned[0]!.render_id, row.id);
    assert.deepEqual(((abandoned[0]!.jobs as { compute_job_id: string; backend: string }[]).map((j) => `${j.backend}:${j.compute_job_id}`)).sort(), ["inhouse:job-align", "inhouse:job-images"]);
    // Left as they were: not marked cancelled, and no failure logged for them.
    assert.deepEqual((await listSteps(db, row.id)).map((s) => s.status), ["running", "running"]);
    assert.equal(lines.filter((l) => l.event === "cancel_cascade_failed").length, 0);
  } finally {
    if (!stopped) await compute.close(); // the hung cancels end, so does the stop
    await w.stop();
    await compute.close();
    await router.close();
  }
  // The connection cut after the stop: the abandoned cancels fail (the client gives up), quietly, touching nothing.
  await until("the abandoned cancels ended", async () => lines.filter((l) => l.event === "give_up").length === 2, 10_000, 10);
  assert.deepEqual((await listSteps(db, row.id)).map((s) => s.status), ["running", "running"]);
  assert.equal(lines.filter((l) => l.event === "cancel_cascade_failed").length, 0, "an abandoned cancel is not reported failed");
});

test("stop() gives up on a removal storage never answers, within its drain bound, and logs the render it left pending", async () => {
  const compute = await hangingCompute();
  const { log, lines } = capturedLog();
  const inhouse = new ComputeClient({ name: "inhouse", baseUrl: compute.url, policy: { maxAttempts: 1 } }, { log });
  const router = new Router({ inhouse }, { log });
  let release = () => {};
  const hung = new Promise<void>((r) => (release = r));
  let removing = false;
  const { publisher } = recordingPublisher({ beforeRemove: () => ((removing = true), hung) });
  const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 1 });
  await db.query(`update render_jobs set status = 'cancelled' where id <> $1 and status in ('queued', 'running')`, [row.id]);
  // Its worker died on the last attempt while publishing: the render is reaped dead, what it published removed.
  await claim(db, "dead-worker", -1);
  await saveStep(db, row.id, "publish", { status: "running", step_attempt: 1 });
  const w = new Worker({ db, router, publisher, metrics: new Metrics(), log, workerId: "w3" }, { ...TEST_WORKER_OPTIONS, drainTimeoutMs: 50 });
  w.start();
  let stopped = false;
  try {
    await until("the removal under way, and hanging", async () => removing, 10_000, 10);
    const stop = w.stop().then(() => (stopped = true));
    await until("stop() resolved", async () => stopped, 10_000, 10).catch(() => assert.fail("stop() still waiting on a removal storage never answers"));
    await stop;
    const abandoned = lines.filter((l) => l.event === "unpublish_abandoned");
    assert.equal(abandoned.length, 1);
    assert.deepEqual(abandoned[0]!.render_ids, [row.id]);
    // Still pending in the database, for any worker's sweep.
    assert.notEqual((await db.query<{ p: unknown }>(`select since as p from render_unpublish_pending where render_id = $1`, [row.id]))[0]?.p ?? null, null);
  } finally {
    release();
    await w.stop();
    await compute.close();
    await router.close();
  }
});
