/**
 * In-house refusing us for its own setup (a wrong COMPUTE_TOKEN: 401/403; a wrong URL or an
 * old deploy: 404/405; a server started without the kind: 400 unknown_kind) is not the
 * request's fault, just as it is not when Modal does it: the step goes to Modal
 * (modal_functions/api/README.md: unknown_kind means "this backend is not set up for the
 * kind", and the worker "places the step elsewhere"). It was thrown as the request's own
 * error, and every render failed for good while Modal could have taken it. With no Modal the
 * step waits for in-house within the wait budget, as when it is down, and then fails
 * retryably (an operator can fix the token), never for good.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ComputeClient } from "../client/modal-client.ts";
import type { PolicyOptions } from "../client/policies.ts";
import { toJobError } from "../pipeline/errors.ts";
import { Metrics } from "../metrics.ts";
import { ScriptedCompute } from "../../test/support/scriptedCompute.ts";
import { NoBackendError, REASONS, Router } from "./index.ts";

const POLICY: Partial<PolicyOptions> = { attemptTimeoutMs: 1000, maxAttempts: 1, initialDelayMs: 5, maxDelayMs: 10, minimumRps: 1000 };

/** An in-house backend that answers every POST with `status` and `code`. */
function refusingInhouse(status: number, code: string, metrics: Metrics): ComputeClient {
  const f = (async () => new Response(JSON.stringify({ error: { code, message: `refused (${code})`, retryable: false } }), { status, headers: { "content-type": "application/json" } })) as typeof fetch;
  return new ComputeClient({ name: "inhouse", baseUrl: "http://inhouse.scripted", policy: POLICY }, { metrics, fetch: f });
}

const REFUSALS: Array<[number, string]> = [[401, "unauthorized"], [403, "forbidden"], [404, "not_found"], [405, "method_not_allowed"], [400, "unknown_kind"]];

for (const [status, code] of REFUSALS) {
  test(`in-house answering ${status} ${code}: the step goes to Modal, counted as a rejection`, async () => {
    const metrics = new Metrics();
    const modal = new ScriptedCompute("modal", () => ({ status: "running" }));
    const router = new Router({ inhouse: refusingInhouse(status, code, metrics), modal: modal.client() }, { metrics, maxWaitMs: 10 });
    try {
      const { job, decision } = await router.submit("diagnostic", {}, `k-${status}-${code}`);
      assert.deepEqual(decision, { backend: "modal", reason: REASONS.inhouseRejected });
      assert.equal(modal.jobs.get(job.id)?.status, "running");
      assert.match(await metrics.text(), /canvascast_backend_rejections_total\{backend="inhouse",code="[a-z_0-9]+"\} 1/);
    } finally {
      await router.close();
    }
  });
}

test("in-house rejecting us and no Modal: the step waits within the budget, then fails retryably (no_backend), not for good", async () => {
  const metrics = new Metrics();
  let waits = 0;
  const router = new Router({ inhouse: refusingInhouse(401, "unauthorized", metrics) }, {
    metrics, maxWaitMs: 10, waitBudgetMs: 0,
    sleep: async () => void waits++,
  });
  try {
    const e = await router.submit("diagnostic", {}, "k-nomodal").then(() => null, (err: unknown) => err);
    assert.ok(e instanceof NoBackendError, `a NoBackendError: ${String(e)}`);
    assert.equal(toJobError(e).retryable, true);
  } finally {
    await router.close();
  }
});

test("in-house refusing the request itself (422): still thrown, Modal would refuse it too", async () => {
  const metrics = new Metrics();
  const modal = new ScriptedCompute("modal", () => ({ status: "running" }));
  const router = new Router({ inhouse: refusingInhouse(422, "validation_error", metrics), modal: modal.client() }, { metrics, maxWaitMs: 10 });
  try {
    await assert.rejects(router.submit("diagnostic", {}, "k-422"), (e: unknown) => toJobError(e).retryable === false);
    assert.equal(modal.jobs.size, 0);
  } finally {
    await router.close();
  }
});
