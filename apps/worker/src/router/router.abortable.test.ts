/**
 * The router's HTTP calls end with their caller: a placement with the render's signal, a
 * chase with the router's close(). Both used to wait for the call in flight to run out its
 * retry policy (four attempts of 10 s plus backoff by default), so a stopping worker or app
 * outlived a deploy's drain.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ComputeClient } from "../client/modal-client.ts";
import { silentCompute } from "../client/silentCompute.abortable.support.ts";
import { until } from "../../test/support/until.ts";
import { Router } from "./index.ts";
import { capturedLog } from "../../test/support/capturedLog.ts";

/** One hour per attempt, four attempts: only an abort can end a call to a silent backend. */
const POLICY = { attemptTimeoutMs: 3_600_000, maxAttempts: 4 };

test("a placement aborted by its render's signal closes its POST, rejects with the reason, and the key is chased where it went unanswered", async () => {
  const compute = await silentCompute((req, res) => {
    if (req.method !== "GET") return false;
    res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: "not_found", message: "none" } }));
    return true;
  });
  const inhouse = new ComputeClient({ name: "inhouse", baseUrl: compute.url, policy: POLICY });
  const router = new Router({ inhouse }, { maxWaitMs: 5, lateSubmitMs: 0 });
  try {
    const ctrl = new AbortController();
    let error: unknown;
    let settled = false;
    router.submit("diagnostic", {}, "r:images:1", { signal: ctrl.signal }).then(() => (settled = true), (e) => ((error = e), (settled = true)));
    await until("the POST under way", async () => compute.seen.length === 1, 10_000, 5);
    const reason = new Error("shutdown");
    ctrl.abort(reason);
    await until("the placement ended", async () => settled, 10_000, 5).catch(() => assert.fail("the aborted placement still waits for its POST"));
    assert.equal(error, reason);
    await until("the POST closed", async () => compute.closedByClient() === 1, 10_000, 5);
    assert.equal(inhouse.breakerState, "closed");
    // The POST may have reached in-house: giving the key up chases it there.
    router.abandon("diagnostic", "r:images:1", undefined, { onlyWhereUnanswered: true });
    assert.equal(router.reclaiming, 1, "the unanswered POST's backend is chased");
  } finally {
    await router.close();
    await compute.close();
  }
});

/** A router over one in-house client of `url`, both logging into `lines`. */
function loggedRouter(url: string) {
  const { log, lines } = capturedLog();
  const inhouse = new ComputeClient({ name: "inhouse", baseUrl: url, policy: POLICY }, { log });
  return { lines, inhouse, router: new Router({ inhouse }, { log, maxWaitMs: 5 }) };
}

test("close() ends a chase whose lookup is in flight, closing its request, without logging it unresolved", async () => {
  const compute = await silentCompute();
  const { lines, inhouse, router } = loggedRouter(compute.url);
  let closed = false;
  try {
    router.abandon("diagnostic", "r:align:1");
    await until("the lookup under way", async () => compute.seen.length === 1, 10_000, 5);
    const closing = router.close().then(() => (closed = true));
    await until("close() resolved", async () => closed, 10_000, 5).catch(() => assert.fail("close() still waits for the chase's lookup"));
    await closing;
    assert.equal(router.reclaiming, 0);
    await until("the lookup closed", async () => compute.closedByClient() === 1, 10_000, 5);
    assert.equal(compute.seen.length, 1, "no lookup after close()");
    assert.equal(inhouse.breakerState, "closed");
    assert.equal(lines.filter((l) => String(l.event).endsWith("_duplicate_unresolved")).length, 0);
    // Not silent either: a copy may run on, and the key is what an operator looks it up by.
    assert.deepEqual(lines.filter((l) => l.event === "inhouse_duplicate_unchecked").map((l) => l.idempotency_key), ["r:align:1"]);
  } finally {
    await compute.close();
    if (!closed) await router.close();
  }
});

test("close() during a chase's cancel of the copy it found ends it, and logs the copy left running", async () => {
  const compute = await silentCompute((req, res) => {
    if (req.method !== "GET") return false; // the DELETE is never answered
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ id: "copy-1", kind: "diagnostic", status: "running", updated_at: new Date().toISOString() }));
    return true;
  });
  const { lines, inhouse, router } = loggedRouter(compute.url);
  let closed = false;
  try {
    router.abandon("diagnostic", "r:align:1");
    await until("the cancel under way", async () => compute.seen.some((s) => s.startsWith("DELETE")), 10_000, 5);
    const closing = router.close().then(() => (closed = true));
    await until("close() resolved", async () => closed, 10_000, 5).catch(() => assert.fail("close() still waits for the chase's cancel"));
    await closing;
    await until("the cancel closed", async () => compute.closedByClient() === 1, 10_000, 5);
    const left = lines.filter((l) => l.event === "inhouse_duplicate_abandoned");
    assert.equal(left.length, 1, "the copy whose cancel was cut off is named");
    assert.equal(left[0]!.inhouse_job_id, "copy-1");
  } finally {
    await compute.close();
    if (!closed) await router.close();
  }
});
