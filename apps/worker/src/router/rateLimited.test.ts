/**
 * A 429 is "too many requests" whatever its body says: `capacity` from the compute plane, but
 * also `rate_limited` (or any other code) from a gateway or proxy in front of it. It is never
 * a fault of the request, so it must neither fail the step nor, through it, the render for good.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ComputeClient } from "../client/modal-client.ts";
import { HttpError } from "../client/errors.ts";
import { toJobError } from "../pipeline/errors.ts";
import { ScriptedCompute } from "../../test/support/scriptedCompute.ts";
import { REASONS, Router } from "./index.ts";

const POLICY = { attemptTimeoutMs: 2000, maxAttempts: 1, initialDelayMs: 5, maxDelayMs: 10, minimumRps: 1e6 };

/** A backend whose first `limited` POSTs a gateway answers 429 `rate_limited`. */
function rateLimited(server: ScriptedCompute, limited: number): ComputeClient {
  let posts = 0;
  const f = (async (url: string | URL | Request, init: RequestInit = {}) => {
    if (init.method === "POST" && posts++ < limited) {
      return new Response(JSON.stringify({ error: { code: "rate_limited", message: "slow down", retryable: true } }), { status: 429, headers: { "content-type": "application/json", "retry-after": "0" } });
    }
    return server.fetch(url, init);
  }) as typeof fetch;
  return new ComputeClient({ name: server.name, baseUrl: `http://${server.name}.scripted`, policy: POLICY }, { fetch: f });
}

test("in-house rate-limited by its gateway: the step spills to Modal as when in-house is full", async () => {
  const inhouse = new ScriptedCompute("inhouse", () => ({ status: "running" }));
  const modal = new ScriptedCompute("modal", () => ({ status: "running" }));
  const router = new Router({ inhouse: rateLimited(inhouse, 1), modal: modal.client() }, { maxWaitMs: 20 });
  try {
    const { decision } = await router.submit("diagnostic", {}, "r-429:images:1");
    assert.deepEqual(decision, { backend: "modal", reason: REASONS.inhouseCapacity });
  } finally {
    await router.close();
  }
});

test("in-house and Modal both rate-limited: the step waits and goes to whichever takes it", async () => {
  const inhouse = new ScriptedCompute("inhouse", () => ({ status: "running" }));
  const modal = new ScriptedCompute("modal", () => ({ status: "running" }));
  const router = new Router({ inhouse: rateLimited(inhouse, 2), modal: rateLimited(modal, 5) }, { maxWaitMs: 20 });
  try {
    const { decision } = await router.submit("diagnostic", {}, "r-429:images:2");
    assert.equal(decision.backend, "inhouse");
    assert.equal(decision.reason, REASONS.modalCapacity);
  } finally {
    await router.close();
  }
});

test("a 429 that ends a render's attempt is retryable, never a final failure", () => {
  assert.equal(toJobError(new HttpError(429, "rate_limited", "slow down")).retryable, true);
});
