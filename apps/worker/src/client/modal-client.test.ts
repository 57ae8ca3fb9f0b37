import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, mock, test } from "node:test";
import { BrokenCircuitError } from "cockatiel";
import { Metrics } from "../metrics.ts";
import { CapacityError, HttpError, isSubmissionInProgress, TransportError } from "./errors.ts";
import { toJobError } from "../pipeline/errors.ts";
import { ComputeClient, MALFORMED_ANSWER, MalformedAnswerError } from "./modal-client.ts";
import type { PolicyOptions } from "./policies.ts";

type Answer = { status: number; body?: unknown; raw?: string; headers?: Record<string, string> } | "refuse" | "hang";

/** A fetch stub that answers from a script and counts calls. Time is mocked, so nothing waits. */
function scriptedFetch(answers: Answer[] | ((n: number) => Answer)) {
  const calls: string[] = [];
  const f = (async (url: string, init: RequestInit) => {
    const n = calls.push(`${init.method} ${url}`) - 1;
    const a = typeof answers === "function" ? answers(n) : answers[Math.min(n, answers.length - 1)]!;
    if (a === "refuse") throw Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNREFUSED", message: "connect ECONNREFUSED" } });
    if (a === "hang") {
      return new Promise((_, reject) => init.signal?.addEventListener("abort", () => reject(Object.assign(new Error("aborted"), { name: "AbortError" }))));
    }
    return new Response(a.raw ?? (a.body === undefined ? "" : JSON.stringify(a.body)), { status: a.status, headers: a.headers ?? {} });
  }) as unknown as typeof fetch;
  return { fetch: f, calls };
}

const JOB = { id: "j1", kind: "diagnostic", status: "queued", input: {}, created_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:00Z", backend: "inhouse" };
const POLICY: Partial<PolicyOptions> = {
  attemptTimeoutMs: 1000, maxAttempts: 4, initialDelayMs: 100, maxDelayMs: 5000,
  failureRate: 0.5, windowMs: 10_000, minimumRps: 0.5, halfOpenAfterMs: 5000,
};

/** Advance mocked time until `p` settles (each turn lets pending promises run first). */
async function drive<T>(p: Promise<T>, stepMs = 25): Promise<T> {
  let settled = false;
  p.then(() => (settled = true), () => (settled = true));
  for (let i = 0; i < 20_000 && !settled; i++) {
    await new Promise((r) => setImmediate(r));
    if (!settled) mock.timers.tick(stepMs);
  }
  return p;
}

function client(answers: Answer[] | ((n: number) => Answer), policy: Partial<PolicyOptions> = POLICY) {
  const s = scriptedFetch(answers);
  const metrics = new Metrics();
  const c = new ComputeClient({ name: "modal", baseUrl: "http://127.0.0.1:1", token: "t", policy }, { fetch: s.fetch, metrics });
  const delays: number[] = [];
  c.policies.retry.onRetry((r) => delays.push(r.delay));
  return { c, calls: s.calls, metrics, delays };
}

describe("compute client", () => {
  beforeEach(() => mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_700_000_000_000 }));
  afterEach(() => mock.timers.reset());

  test("retries a 5xx with growing backoff, then succeeds", async () => {
    const { c, calls, delays, metrics } = client([{ status: 503, body: { error: { code: "unavailable", message: "x" } } }, { status: 502 }, { status: 202, body: JOB }]);
    const job = await drive(c.submit("diagnostic", {}, "r:images:1"));
    assert.equal(job.id, "j1");
    assert.equal(calls.length, 3);
    assert.equal(delays.length, 2);
    assert.ok(delays.every((d) => d > 0 && d <= 5000));
    assert.match(await metrics.text(), /canvascast_client_retries_total\{backend="modal",reason="unavailable"\} 1/);
  });

  test("honours Retry-After when it asks for longer than the backoff", async () => {
    const { c, delays } = client([{ status: 503, headers: { "retry-after": "3" } }, { status: 200, body: JOB }]);
    await drive(c.get("j1"));
    assert.equal(delays.length, 1);
    assert.ok(delays[0]! >= 3000, `delay ${delays[0]} honours Retry-After: 3`);
  });

  test("never retries a 4xx", async () => {
    const { c, calls } = client([{ status: 400, body: { error: { code: "validation_error", message: "bad" } } }]);
    await assert.rejects(drive(c.submit("diagnostic", {}, "k")), (e: unknown) => e instanceof HttpError && e.status === 400 && e.code === "validation_error");
    assert.equal(calls.length, 1);
  });

  test("429 capacity is a routing signal: no retry, not a breaker failure", async () => {
    const { c, calls } = client(() => ({ status: 429, body: { error: { code: "capacity", message: "full" } }, headers: { "retry-after": "2" } }));
    for (let i = 0; i < 20; i++) {
      await assert.rejects(drive(c.submit("diagnostic", {}, `k${i}`)), (e: unknown) => e instanceof CapacityError && e.retryAfterMs === 2000);
    }
    assert.equal(calls.length, 20);
    assert.equal(c.breakerState, "closed");
  });

  test("retries refused connections and gives up with a TransportError", async () => {
    const { c, calls } = client(["refuse"], { ...POLICY, minimumRps: 1000 });
    await assert.rejects(drive(c.health()), (e: unknown) => e instanceof TransportError && e.code === "econnrefused");
    assert.equal(calls.length, 4);
  });

  test("the timeout applies to each attempt, not to the call", async () => {
    const { c, calls } = client(["hang", "hang", { status: 200, body: JOB }], { ...POLICY, attemptTimeoutMs: 1000, minimumRps: 1000 });
    const job = await drive(c.get("j1"), 100);
    assert.equal(job.id, "j1");
    assert.equal(calls.length, 3);
  });

  test("opens at the configured failure rate and then fails fast", async () => {
    // 50% over a 10 s window with at least 0.5 rps (5 calls): 6 calls, every other one fails.
    const { c, calls } = client((n) => (n % 2 === 0 ? { status: 500 } : { status: 200, body: JOB }), { ...POLICY, maxAttempts: 1 });
    for (let i = 0; i < 6; i++) await drive(c.get("j1")).catch(() => undefined);
    assert.equal(c.breakerState, "open");
    const before = calls.length;
    await assert.rejects(drive(c.get("j1")), BrokenCircuitError);
    assert.equal(calls.length, before, "an open breaker does not call the backend");
  });

  test("stays closed below the failure rate", async () => {
    const { c } = client((n) => (n % 4 === 0 ? { status: 500 } : { status: 200, body: JOB }), { ...POLICY, maxAttempts: 1 });
    for (let i = 0; i < 20; i++) await drive(c.get("j1")).catch(() => undefined);
    assert.equal(c.breakerState, "closed");
  });

  test("a few failures under the minimum rate do not open it (rate, not count)", async () => {
    const { c } = client([{ status: 500 }], { ...POLICY, maxAttempts: 1 });
    for (let i = 0; i < 3; i++) await drive(c.get("j1")).catch(() => undefined);
    assert.equal(c.breakerState, "closed");
  });

  test("half-open probes let it recover", async () => {
    let healthy = false;
    const { c, metrics } = client(() => (healthy ? { status: 200, body: JOB } : { status: 500 }), { ...POLICY, maxAttempts: 1 });
    for (let i = 0; i < 6; i++) await drive(c.get("j1")).catch(() => undefined);
    assert.equal(c.breakerState, "open");
    mock.timers.tick(5000);
    await assert.rejects(drive(c.get("j1")), HttpError, "the first probe fails: open again");
    assert.equal(c.breakerState, "open");
    await assert.rejects(drive(c.get("j1")), BrokenCircuitError);
    healthy = true;
    mock.timers.tick(5000);
    assert.equal((await drive(c.get("j1"))).id, "j1");
    assert.equal(c.breakerState, "closed");
    const text = await metrics.text();
    assert.match(text, /canvascast_breaker_transitions_total\{backend="modal",state="half_open"\} 2/);
    assert.match(text, /canvascast_breaker_state\{backend="modal"\} 0/);
  });

  test("a 200 whose body is not JSON is a MalformedAnswerError: an answer, never retried, not a breaker failure", async () => {
    const { c, calls } = client([{ status: 200, raw: "<html>ok</html>" }]);
    await assert.rejects(
      drive(c.get("j1")),
      (e: unknown) => e instanceof MalformedAnswerError && e instanceof HttpError && e.code === MALFORMED_ANSWER && e.status === 200 && /not JSON/.test(e.message),
    );
    assert.equal(calls.length, 1);
    assert.equal(c.breakerState, "closed");
  });

  test("a MalformedAnswerError is retryable for the pipeline: the step may be tried again", () => {
    const e = new MalformedAnswerError(200, MALFORMED_ANSWER, "HTTP 200 with a body that is not JSON");
    assert.deepEqual(toJobError(e), { code: MALFORMED_ANSWER, message: e.message, retryable: true });
  });

  for (const probe of [
    { status: 429, body: { error: { code: "capacity", message: "full" } } },
    { status: 404, body: { error: { code: "not_found", message: "no such job" } } },
    { status: 200, raw: "<html>ok</html>" }, // a proxy's page: answered, just not in the contract
  ]) {
    test(`a half-open probe answered ${probe.status} closes the breaker with a clean window: one later 5xx does not re-open it`, async () => {
      let answer: Answer = { status: 500 };
      const { c } = client(() => answer, { ...POLICY, maxAttempts: 1 });
      for (let i = 0; i < 6; i++) await drive(c.get("j1")).catch(() => undefined);
      assert.equal(c.breakerState, "open");
      mock.timers.tick(5000);
      answer = probe; // the backend is back, and busy (or the job is gone): not a failure
      await assert.rejects(drive(c.get("j1")), (e: unknown) => e instanceof HttpError && e.status === probe.status);
      assert.equal(c.breakerState, "closed");
      answer = { status: 500 };
      await assert.rejects(drive(c.get("j1")), HttpError);
      assert.equal(c.breakerState, "closed", "the failures from before the probe no longer count");
    });
  }

  test("sends the bearer token and the idempotency key", async () => {
    let seen: RequestInit | undefined;
    const f = (async (_u: string, init: RequestInit) => {
      seen = init;
      return new Response(JSON.stringify(JOB), { status: 202 });
    }) as unknown as typeof fetch;
    const c = new ComputeClient({ name: "inhouse", baseUrl: "http://127.0.0.1:1/", token: "secret" }, { fetch: f });
    await drive(c.submit("diagnostic", { a: 1 }, "r1:images:2"));
    assert.equal((seen!.headers as Record<string, string>).authorization, "Bearer secret");
    assert.deepEqual(JSON.parse(String(seen!.body)), { kind: "diagnostic", input: { a: 1 }, idempotency_key: "r1:images:2" });
  });

  test("findByIdempotencyKey: a GET by key through the same policies; 404 not_found is null, submission_in_progress is thrown", async () => {
    const { c, calls } = client([
      { status: 503 }, // retried like any GET
      { status: 200, body: JOB },
      { status: 404, body: { error: { code: "not_found", message: "no job", retryable: false } } },
      { status: 404, body: { error: { code: "submission_in_progress", message: "look again", retryable: true } }, headers: { "retry-after": "1" } },
    ]);
    assert.equal((await drive(c.findByIdempotencyKey("r1:images:1 &?", "diagnostic")))?.id, "j1");
    const url = new URL(calls[0]!.split(" ")[1]!);
    assert.equal(calls[0]!.split(" ")[0], "GET");
    assert.equal(url.pathname, "/v1/jobs");
    assert.equal(url.searchParams.get("idempotency_key"), "r1:images:1 &?");
    assert.equal(url.searchParams.get("kind"), "diagnostic");
    assert.equal(calls.length, 2);
    assert.equal(await drive(c.findByIdempotencyKey("gone")), null);
    assert.equal(new URL(calls[2]!.split(" ")[1]!).searchParams.has("kind"), false);
    await assert.rejects(drive(c.findByIdempotencyKey("busy")), (e: unknown) => isSubmissionInProgress(e) && e.retryAfterMs === 1000);
    assert.equal(calls.length, 4, "404s are answers: never retried");
    assert.equal(c.breakerState, "closed");
  });
});
