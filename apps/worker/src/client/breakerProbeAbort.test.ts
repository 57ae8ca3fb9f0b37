/**
 * An aborted call never closes a half-open breaker. cockatiel (3.2.1) closes a half-open
 * breaker whenever its probe ends in an error it does not handle, and an abort's reason is such
 * an error: a render stopping while its call was the probe (or was waiting to retry when the
 * breaker went half-open) closed the breaker of a backend that was still down, and every render
 * was routed to it again. The probe's own answer decides now.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { until } from "../../test/support/until.ts";
import { Metrics } from "../metrics.ts";
import { ComputeClient } from "./modal-client.ts";
import { silentCompute } from "./silentCompute.abortable.support.ts";

const DOWN = (_req: unknown, res: { writeHead: (s: number, h: Record<string, string>) => { end: (b: string) => void } }) => {
  res.writeHead(503, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: "unavailable", message: "down" } }));
  return true;
};

test("aborting the half-open probe leaves the breaker to the probe's own answer: still down, it opens again", async () => {
  let down = true;
  let hang = false;
  const compute = await silentCompute((req, res) => (hang ? false : down ? DOWN(req, res as never) : false));
  const c = new ComputeClient({ name: "inhouse", baseUrl: compute.url, policy: { maxAttempts: 1, failureRate: 0.1, minimumRps: 0, halfOpenAfterMs: 50, attemptTimeoutMs: 300 } }, { metrics: new Metrics() });
  try {
    for (let i = 0; i < 3 && c.breakerState !== "open"; i++) await c.get("j1").catch(() => {});
    assert.equal(c.breakerState, "open");
    hang = true; // the probe hangs: a backend still down that accepts and never answers
    await until("a call that is the half-open probe, aborted once under way", async () => {
      // A call made while the breaker is still open is refused without a request; the first after halfOpenAfter probes.
      const seen = compute.seen.length;
      const ctrl = new AbortController();
      const p = c.get("j1", ctrl.signal).catch((e) => e);
      const probing = c.breakerState === "half_open";
      if (probing) await until("the probe reached the backend", async () => compute.seen.length > seen, 10_000, 5);
      ctrl.abort(new Error("render stopped"));
      await p;
      return probing;
    }, 10_000, 20);
    assert.notEqual(c.breakerState, "closed", "an aborted probe closed the breaker of a backend still down");
    await until("the probe's own timeout reopens it", async () => c.breakerState === "open", 10_000, 10);
  } finally {
    await compute.close();
  }
});
