/**
 * A chase (key lookup of an unanswered POST) honours a 429's Retry-After, but only within the
 * wait budget: a gateway asking for a day (or a capped huge value: 24.8 days) must not park
 * the chase for that long, silent, past the budget that is meant to end it with an
 * `*_duplicate_unresolved` error an operator sees.
 */
import assert from "node:assert/strict";
import { afterEach, beforeEach, mock, test } from "node:test";
import pino from "pino";
import { ComputeClient } from "../client/modal-client.ts";
import type { PolicyOptions } from "../client/policies.ts";
import { ScriptedCompute } from "../../test/support/scriptedCompute.ts";
import { Router } from "./index.ts";

const POLICY: Partial<PolicyOptions> = { attemptTimeoutMs: 1000, maxAttempts: 1, initialDelayMs: 5, maxDelayMs: 10, minimumRps: 1000 };
const BUDGET_MS = 10_000;

beforeEach(() => mock.timers.enable({ apis: ["Date"], now: 1_700_000_000_000 }));
afterEach(() => mock.timers.reset());

/**
 * Polls on the real clock (performance.now and setTimeout are not mocked). test/support's
 * until() reads its deadline from Date, which is mocked here and moved on by the chase's
 * virtual waits (up to the whole budget): a poll landing after a wait, before the chase had
 * ended, found the deadline long past and failed; with no wait it could never time out.
 */
async function settled(what: string, done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5)); // polling interval of a condition with a deadline
  }
}

for (const retryAfter of ["86400", String(2 ** 31)]) {
  test(`a lookup answered 429 Retry-After: ${retryAfter} s waits no longer than the wait budget, then the chase gives up loudly`, { timeout: 30_000 }, async () => {
    const inhouse = new ScriptedCompute("inhouse", () => ({ status: "running" }));
    const limited = (async (url: string | URL | Request, init: RequestInit = {}) => {
      if ((init.method ?? "GET") === "GET" && new URL(String(url)).searchParams.has("idempotency_key")) {
        return new Response(JSON.stringify({ error: { code: "rate_limited", message: "slow down", retryable: true } }), { status: 429, headers: { "content-type": "application/json", "retry-after": retryAfter } });
      }
      return inhouse.fetch(url, init);
    }) as typeof fetch;
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const waits: number[] = [];
    const router = new Router({ inhouse: new ComputeClient({ name: "inhouse", baseUrl: "http://inhouse.scripted", policy: POLICY }, { fetch: limited }) }, {
      log: logger,
      maxWaitMs: 5,
      waitBudgetMs: BUDGET_MS,
      lateSubmitMs: 60_000,
      sleep: async (ms) => void (waits.push(ms), mock.timers.tick(ms)), // virtual time: the wait plan, not the wall clock
    });
    try {
      router.abandon("diagnostic", "r:render:9");
      await settled("the chase over", () => router.reclaiming === 0, 10_000);
      assert.ok(waits.length > 0);
      assert.ok(Math.max(...waits) <= BUDGET_MS + 1, `waited ${Math.max(...waits)} ms at once, with a ${BUDGET_MS} ms budget`);
      assert.ok(lines.some((l) => l.event === "inhouse_duplicate_unresolved"), "the chase ended with an error an operator sees");
    } finally {
      await router.close();
    }
  });
}
