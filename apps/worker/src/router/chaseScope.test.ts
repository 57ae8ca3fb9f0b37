/**
 * What the router chases, and how long: a key given up whose every POST was this router's is
 * looked up only where one may have gone unanswered (any other key, on every backend), one chase per
 * backend and key however often it is given up, and a lookup answered 429 is asked again.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ComputeClient } from "../client/modal-client.ts";
import type { PolicyOptions } from "../client/policies.ts";
import { ScriptedCompute } from "../../test/support/scriptedCompute.ts";
import { until } from "../../test/support/until.ts";
import { Router } from "./index.ts";

const POLICY: Partial<PolicyOptions> = { attemptTimeoutMs: 100, maxAttempts: 1, initialDelayMs: 5, maxDelayMs: 10, minimumRps: 1000 };

/** `server` behind a fetch that answers the first `n` requests matching `pick` with `status` and `code`. */
function answering(server: ScriptedCompute, pick: (method: string, url: URL) => boolean, n: number, status: number, code: string): ComputeClient {
  let left = n;
  const f = (async (url: string | URL | Request, init: RequestInit = {}) => {
    if (pick(init.method ?? "GET", new URL(String(url))) && left-- > 0) {
      return new Response(JSON.stringify({ error: { code, message: code, retryable: status >= 429 } }), { status, headers: { "content-type": "application/json" } });
    }
    return server.fetch(url, init);
  }) as typeof fetch;
  return new ComputeClient({ name: server.name, baseUrl: `http://${server.name}.scripted`, policy: POLICY }, { fetch: f });
}

const lookups = (s: ScriptedCompute) => s.calls.filter((c) => c.method === "GET" && c.query.includes("idempotency_key")).length;

test("a placement refused outright (422) leaves nothing to chase: no lookups anywhere", async () => {
  const inhouse = new ScriptedCompute("inhouse", () => ({ status: "running" }));
  const modal = new ScriptedCompute("modal", () => ({ status: "running" }));
  const router = new Router({
    inhouse: answering(inhouse, (m) => m === "POST", 1, 422, "validation_error"),
    modal: modal.client(),
  }, { maxWaitMs: 5, lateSubmitMs: 50 });
  try {
    await assert.rejects(router.submit("diagnostic", {}, "r:images:1"), (e: unknown) => (e as { status?: number }).status === 422);
    router.abandon("diagnostic", "r:images:1", undefined, { onlyWhereUnanswered: true }); // every POST of the key was this router's
    assert.equal(router.reclaiming, 0, "no POST went unanswered: no chase started");
    assert.equal(lookups(inhouse) + lookups(modal), 0);
  } finally {
    await router.close();
  }
});

test("a key this router did not place is chased on both backends, once each however often it is given up", async () => {
  const inhouse = new ScriptedCompute("inhouse", () => ({ status: "running" }));
  const modal = new ScriptedCompute("modal", () => ({ status: "running" }));
  const router = new Router({ inhouse: inhouse.client(), modal: modal.client() }, { maxWaitMs: 5, lateSubmitMs: 60_000 });
  try {
    for (let i = 0; i < 5; i++) router.abandon("diagnostic", "r:align:1"); // five DELETEs of the same render
    assert.equal(router.reclaiming, 2, "one chase per backend");
  } finally {
    await router.close();
  }
});

test("a chase whose lookup is rate-limited (429) asks again and cancels the copy it then finds", async () => {
  const inhouse = new ScriptedCompute("inhouse", () => ({ status: "running" }));
  const copy = await inhouse.client().submit("diagnostic", {}, "r:render:1"); // made by a POST whose answer was lost
  const router = new Router({
    inhouse: answering(inhouse, (m, u) => m === "GET" && u.searchParams.has("idempotency_key"), 2, 429, "rate_limited"),
  }, { maxWaitMs: 5, lateSubmitMs: 60_000 });
  try {
    router.abandon("diagnostic", "r:render:1");
    await until("the chase over", async () => router.reclaiming === 0, 10_000, 5);
    assert.equal(inhouse.jobs.get(copy.id)?.status, "cancelled");
  } finally {
    await router.close();
  }
});
