/**
 * A compute call can be aborted by its caller (`signal`): the in-flight request is closed, no
 * further attempt is made, the call rejects with the signal's reason at once, and the breaker
 * does not count it: an abort says nothing about the backend. Without it a stopping worker
 * waited for every in-flight call to run out its retry policy (4 attempts of 10 s plus backoff
 * by default), longer than a deploy's drain.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { until } from "../../test/support/until.ts";
import { Metrics } from "../metrics.ts";
import { ComputeClient } from "./modal-client.ts";
import { silentCompute } from "./silentCompute.abortable.support.ts";

const metrics = () => new Metrics();
/** Rejected with what, once settled (never a bare sleep: `until` only bounds a failure). */
function settle(p: Promise<unknown>): { error: () => unknown; settled: () => boolean } {
  let done = false;
  let error: unknown;
  p.then(() => (done = true), (e) => ((error = e), (done = true)));
  return { error: () => error, settled: () => done };
}

test("an aborted call closes its request, makes no other attempt, rejects with the reason, and leaves the breaker alone", async () => {
  const compute = await silentCompute();
  // One hour per attempt, four attempts: only the abort can end these calls. A low bar to open
  // the breaker: were aborts failures, these four calls would open it.
  const c = new ComputeClient({ name: "inhouse", baseUrl: compute.url, policy: { attemptTimeoutMs: 3_600_000, maxAttempts: 4, failureRate: 0.1, minimumRps: 0 } }, { metrics: metrics() });
  try {
    const calls: [string, (s: AbortSignal) => Promise<unknown>][] = [
      ["GET", (s) => c.get("j1", s)],
      ["POST", (s) => c.submit("diagnostic", {}, "k1", undefined, s)],
      ["DELETE", (s) => c.cancel("j1", s)],
      ["GET", (s) => c.findByIdempotencyKey("k1", "diagnostic", s)],
    ];
    for (const [i, [method, call]] of calls.entries()) {
      const ctrl = new AbortController();
      const p = settle(call(ctrl.signal));
      await until(`the ${method} under way`, async () => compute.seen.length === i + 1, 10_000, 5);
      const reason = new Error(`stop ${i}`);
      ctrl.abort(reason);
      await until(`the ${method} rejected`, async () => p.settled(), 10_000, 5).catch(() => assert.fail(`the aborted ${method} still waits for its answer`));
      assert.equal(p.error(), reason, "rejected with the signal's reason");
      await until("the request closed", async () => compute.closedByClient() === i + 1, 10_000, 5);
    }
    assert.equal(compute.seen.length, calls.length, "no attempt after an abort");
    assert.equal(c.breakerState, "closed", "an abort is not a backend failure");
  } finally {
    await compute.close();
  }
});

test("a call aborted while it waits to retry rejects at once, not after the backoff, and sends nothing more", async () => {
  const compute = await silentCompute((_req, res) => {
    res.writeHead(503, { "content-type": "application/json", "retry-after": "2" }).end(JSON.stringify({ error: { code: "unavailable", message: "restarting" } }));
    return true;
  });
  const c = new ComputeClient({ name: "inhouse", baseUrl: compute.url, policy: { initialDelayMs: 1, maxDelayMs: 2_000, maxAttempts: 2 } }, { metrics: metrics() });
  // Set just after the retry's own timer, for as long: it fires after it.
  let backoffOver: Promise<"backoff over"> | undefined;
  c.policies.retry.onRetry((r) => void (backoffOver = new Promise((res) => setTimeout(() => res("backoff over"), r.delay))));
  try {
    const ctrl = new AbortController();
    const call = c.get("j1", ctrl.signal);
    await until("waiting to retry", async () => backoffOver !== undefined, 10_000, 5);
    const reason = new Error("stop");
    ctrl.abort(reason);
    const first = await Promise.race([call.then(() => "answered", (e: unknown) => e), backoffOver!]);
    assert.equal(first, reason, "rejected with the reason before the backoff ran out");
    await backoffOver;
    assert.deepEqual(compute.seen, ["GET /v1/jobs/j1"], "no attempt after the abort");
  } finally {
    await compute.close();
  }
});

test("a call whose signal is already aborted sends nothing", async () => {
  const compute = await silentCompute();
  const c = new ComputeClient({ name: "inhouse", baseUrl: compute.url }, { metrics: metrics() });
  try {
    const reason = new Error("gone");
    await assert.rejects(c.get("j1", AbortSignal.abort(reason)), (e) => e === reason);
    assert.deepEqual(compute.seen, []);
    assert.equal(c.breakerState, "closed");
  } finally {
    await compute.close();
  }
});
