/**
 * stop() ends a render whose compute poll is in flight at once: the GET is closed, the render
 * handed back (queued, its attempt not spent) with its steps still running on their jobs, for
 * the next worker to reattach; the breaker untouched. It used to wait for the GET to run out
 * its retry policy (four attempts of 10 s plus backoff by default), past a deploy's drain.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ComputeClient } from "./client/modal-client.ts";
import { silentCompute } from "./client/silentCompute.abortable.support.ts";
import type { Db } from "./db/db.ts";
import { Metrics } from "./metrics.ts";
import { enqueue, getRender, listSteps } from "./queue/index.ts";
import { Router } from "./router/index.ts";
import type { Publisher } from "./storage/publisher.ts";
import { Worker } from "./worker.ts";
import { TEST_WORKER_OPTIONS } from "../test/support/testWorker.ts";
import { until } from "../test/support/until.ts";
import { openMigratedPglite, SMALL_REQUEST } from "../test/support/migratedPglite.ts";
import { capturedLog } from "../test/support/capturedLog.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

test("stop() ends a render whose poll is in flight: the GETs closed, the render handed back, its steps left on their jobs", async () => {
  let made = 0;
  // Takes every submission, never answers a poll.
  const compute = await silentCompute((req, res) => {
    if (req.method !== "POST") return false;
    let body = "";
    req.on("data", (c) => (body += c)).on("end", () => {
      const { kind } = JSON.parse(body) as { kind: string };
      const now = new Date().toISOString();
      res.writeHead(202, { "content-type": "application/json" }).end(JSON.stringify({ id: `job-${++made}`, kind, status: "running", backend: "inhouse", created_at: now, updated_at: now }));
    });
    return true;
  });
  const { log, lines } = capturedLog();
  // One hour per attempt, four attempts: only the stop can end a poll.
  const inhouse = new ComputeClient({ name: "inhouse", baseUrl: compute.url, policy: { attemptTimeoutMs: 3_600_000, maxAttempts: 4 } }, { log });
  const router = new Router({ inhouse }, { log });
  const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 3 });
  await db.query(`update render_jobs set status = 'cancelled' where id <> $1 and status in ('queued', 'running')`, [row.id]);
  const w = new Worker({ db, router, publisher: {} as Publisher, metrics: new Metrics(), log, workerId: "w1" }, TEST_WORKER_OPTIONS);
  w.start();
  let stopped = false;
  try {
    const polls = () => compute.seen.filter((s) => s.startsWith("GET /v1/jobs/")).length;
    await until("both steps' polls under way", async () => polls() === 2, 10_000, 5);
    const stop = w.stop().then(() => (stopped = true));
    await until("stop() resolved", async () => stopped, 10_000, 5).catch(() => assert.fail("stop() still waits for the polls in flight"));
    await stop;
    await until("the polls closed", async () => compute.closedByClient() === 2, 10_000, 5);
    assert.equal(polls(), 2, "no poll after the stop");
    const after = await getRender(db, row.id);
    assert.equal(after?.status, "queued", "handed back, not failed");
    assert.equal(after?.attempts, 0, "a stop does not spend an attempt");
    const steps = (await listSteps(db, row.id)).filter((s) => s.compute_job_id);
    assert.deepEqual(steps.map((s) => s.status), ["running", "running"], "left on their jobs, for the next worker to reattach");
    assert.equal(inhouse.breakerState, "closed");
    assert.equal(lines.filter((l) => l.event === "give_up" || l.event === "retry").length, 0, "an abort is neither retried nor a failed call");
  } finally {
    await compute.close(); // first: a stop still waiting on a poll would wait an hour
    await w.stop();
    await router.close();
  }
});
