/**
 * A Modal submission that got no answer may still have created the job (idempotency keys are
 * per backend), exactly like an in-house one: when the step then goes to in-house, the Modal
 * copy would run (and bill) with nobody polling it. The router chases it as it chases an
 * in-house copy: key lookup on Modal, cancel what it finds, never a second POST.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ComputeClient } from "../client/modal-client.ts";
import type { PolicyOptions } from "../client/policies.ts";
import { lossyClient, ScriptedCompute } from "../../test/support/scriptedCompute.ts";
import { until } from "../../test/support/until.ts";
import { REASONS, Router } from "./index.ts";

const POLICY: Partial<PolicyOptions> = { attemptTimeoutMs: 100, maxAttempts: 2, initialDelayMs: 10, maxDelayMs: 20, minimumRps: 1000 };
const KEY = "render-9:images:1";

/** In-house full for its first `fullFor` POSTs (429 capacity), then the scripted server. */
function fullInhouse(server: ScriptedCompute, fullFor: number): ComputeClient {
  let posts = 0;
  const f = (async (url: string | URL | Request, init: RequestInit = {}) => {
    if (init.method === "POST" && posts++ < fullFor) {
      return new Response(JSON.stringify({ error: { code: "capacity", message: "full", retryable: true } }), { status: 429, headers: { "content-type": "application/json" } });
    }
    return server.fetch(url, init);
  }) as typeof fetch;
  return new ComputeClient({ name: "inhouse", baseUrl: "http://inhouse.scripted", policy: POLICY }, { fetch: f });
}

test("a step placed in-house after an unanswered Modal POST: the Modal copy that POST made is found by key and cancelled", async () => {
  const inhouse = new ScriptedCompute("inhouse", () => ({ status: "running" }));
  const modal = new ScriptedCompute("modal", () => ({ status: "running" }));
  const lossy = lossyClient(modal, POLICY); // every Modal POST makes the job, no answer comes back
  const router = new Router({ inhouse: fullInhouse(inhouse, 1), modal: lossy.client }, { maxWaitMs: 20, lateSubmitMs: 0 });
  try {
    const { job, decision } = await router.submit("diagnostic", { action: "succeed" }, KEY);
    assert.equal(decision.backend, "inhouse", "in-house had room again on the second round");
    assert.notEqual(decision.reason, REASONS.inhouseFirst);
    const [copy] = modal.submitted("diagnostic");
    assert.equal(copy?.status, "running", "the unanswered Modal POST did create a job");
    await until("the chase over", async () => router.reclaiming === 0, 10_000, 10);
    assert.equal(copy!.status, "cancelled", "the Modal copy nobody polls was cancelled");
    assert.equal(lossy.posts(), POLICY.maxAttempts, "Modal was never POSTed again");
    assert.equal(inhouse.jobs.get(job.id)?.status, "running", "the in-house job, the one the step polls, runs on");
  } finally {
    await router.close();
  }
});
