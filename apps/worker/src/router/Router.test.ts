/**
 * The router against two real compute servers on 127.0.0.1: `canvascast serve` as in-house
 * and a second one with `--backend-name modal` and fault injection as the Modal backend.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, beforeEach, describe, mock, test } from "node:test";
import { BrokenCircuitError } from "cockatiel";
import pino from "pino";
import { HttpError } from "../client/errors.ts";
import { ComputeClient } from "../client/modal-client.ts";
import type { PolicyOptions } from "../client/policies.ts";
import { Metrics } from "../metrics.ts";
import { waitForJob } from "../pipeline/waitForJob.ts";
import { ComputeServer } from "../../test/support/computeServer.ts";
import { ScriptedCompute } from "../../test/support/scriptedCompute.ts";
import { tempDir } from "../../test/support/tmp.ts";
import { until } from "../../test/support/until.ts";
import { abortableSleep, NoBackendError, REASONS, Router, type Decision } from "./index.ts";

const TOKEN = "router-test-token";
const N = 2;
const FAST: Partial<PolicyOptions> = {
  attemptTimeoutMs: 2000, maxAttempts: 2, initialDelayMs: 20, maxDelayMs: 100,
  failureRate: 0.5, windowMs: 5000, minimumRps: 0.4, halfOpenAfterMs: 60_000,
};

describe("router with real compute servers", () => {
  const dir = tempDir("cc-router-");
  const inhouse = new ComputeServer({ dataDir: `${dir.path}/inhouse`, token: TOKEN, kinds: ["diagnostic"], faultInjection: true, pools: { diagnostic: { workers: N, queue: 0 } } });
  const modal = new ComputeServer({ dataDir: `${dir.path}/modal`, token: TOKEN, kinds: ["diagnostic"], faultInjection: true, backendName: "modal", pools: { diagnostic: { workers: 4 * N, queue: 8 } } });

  before(async () => {
    await Promise.all([inhouse.start(), modal.start()]);
  });
  after(async () => {
    await Promise.all([inhouse.stop(), modal.stop()]);
    dir.cleanup();
  });
  beforeEach(async () => {
    await Promise.all([inhouse.fault("none"), modal.fault("none")]);
  });

  /** `modalUrl`/`modalToken` misconfigure the Modal client, `modalPolicy` replaces its policy; `onSleep` sees each wait of the router. */
  function makeRouter(
    policy: Partial<PolicyOptions> = FAST,
    o: { modalUrl?: string; modalToken?: string; modalPolicy?: Partial<PolicyOptions>; onSleep?: (ms: number) => void } = {},
  ) {
    const metrics = new Metrics();
    const clients = {
      inhouse: new ComputeClient({ name: "inhouse", baseUrl: inhouse.url, token: TOKEN, policy }, { metrics }),
      modal: new ComputeClient({ name: "modal", baseUrl: o.modalUrl ?? modal.url, token: o.modalToken ?? TOKEN, policy: o.modalPolicy ?? policy }, { metrics }),
    };
    const decisions: Decision[] = [];
    const sleep = (ms: number, signal?: AbortSignal) => {
      o.onSleep?.(ms);
      return abortableSleep(ms, signal);
    };
    const router = new Router(clients, { metrics, maxWaitMs: 100, sleep });
    const submit = (input: Record<string, unknown>, key: string) =>
      router.submit("diagnostic", input, key, { onDecision: (d) => void decisions.push(d) });
    return { router, clients, metrics, decisions, submit };
  }
  let seq = 0;
  const key = () => `router-test:${process.pid}:${seq++}`;

  test("in-house first", async () => {
    const { submit, clients } = makeRouter();
    const { job, decision } = await submit({ action: "succeed", payload: "hi" }, key());
    assert.deepEqual(decision, { backend: "inhouse", reason: REASONS.inhouseFirst });
    const done = await waitForJob(clients.inhouse, job.id);
    assert.equal(done.status, "succeeded");
    assert.equal(done.backend, "inhouse");
  });

  test("the key lookup against the real server: the job a POST with the key made, null for an unknown key or another kind", async () => {
    const { clients } = makeRouter();
    const k = key();
    const job = await clients.inhouse.submit("diagnostic", { action: "succeed" }, k);
    assert.equal((await clients.inhouse.findByIdempotencyKey(k, "diagnostic"))?.id, job.id);
    assert.equal((await clients.inhouse.findByIdempotencyKey(k))?.id, job.id);
    assert.equal(await clients.inhouse.findByIdempotencyKey(k, "render_video"), null);
    assert.equal(await clients.inhouse.findByIdempotencyKey(key()), null);
    await waitForJob(clients.inhouse, job.id);
  });

  test("429 capacity from in-house spills the step to Modal; the request is untouched", async () => {
    const { submit, metrics } = makeRouter();
    await inhouse.fault("capacity", { n: 1 });
    const input = { action: "succeed", payload: "engine stays" };
    const { job, decision } = await submit(input, key());
    assert.deepEqual(decision, { backend: "modal", reason: REASONS.inhouseCapacity });
    assert.equal(job.backend, "modal");
    assert.deepEqual(job.input, input);
    assert.match(await metrics.text(), /canvascast_routing_decisions_total\{backend="modal",reason="inhouse_capacity"\} 1/);
  });

  test("fallback: when Modal fails, the step waits for and goes to in-house", async () => {
    const { submit } = makeRouter({ ...FAST, minimumRps: 1000 }); // keep Modal's breaker closed here
    await inhouse.fault("capacity", { n: 2 });
    await modal.fault("fail");
    const { job, decision } = await submit({ action: "succeed" }, key());
    assert.deepEqual(decision, { backend: "inhouse", reason: REASONS.modalFailed });
    assert.equal(job.backend, "inhouse");
  });

  test("when Modal's breaker is open the step waits for in-house capacity, without calling Modal", async () => {
    const { submit, clients } = makeRouter();
    await modal.fault("fail");
    for (let i = 0; i < 4; i++) await clients.modal.submit("diagnostic", {}, key()).catch(() => undefined);
    assert.equal(clients.modal.breakerState, "open");
    await modal.fault("none");
    await inhouse.fault("capacity", { n: 3 });
    const { decision } = await submit({ action: "succeed" }, key());
    assert.deepEqual(decision, { backend: "inhouse", reason: REASONS.modalBreakerOpen });
    await assert.rejects(clients.modal.submit("diagnostic", {}, key()), BrokenCircuitError);
  });

  test("Modal's breaker opens on real failures, fails fast, and a half-open probe closes it once Modal recovers", async () => {
    // 1.5 s half-open: a longer pause of this process before the fail-fast check would let a probe through
    const { clients } = makeRouter({ ...FAST, maxAttempts: 1, halfOpenAfterMs: 1500 });
    await modal.fault("fail");
    for (let i = 0; i < 4 && clients.modal.breakerState !== "open"; i++) await clients.modal.submit("diagnostic", {}, key()).catch(() => undefined);
    assert.equal(clients.modal.breakerState, "open");
    await assert.rejects(clients.modal.submit("diagnostic", {}, key()), BrokenCircuitError, "fails fast while open");
    await modal.fault("none");
    const deadline = Date.now() + 10_000;
    let job = null;
    while (!job && Date.now() < deadline) {
      job = await clients.modal.submit("diagnostic", { action: "succeed" }, key()).catch((e) => {
        assert.ok(e instanceof BrokenCircuitError, String(e));
        return null;
      });
      if (!job) await new Promise((r) => setTimeout(r, 50)); // poll until the half-open probe is allowed
    }
    assert.ok(job, "a probe got through after halfOpenAfter");
    assert.equal(clients.modal.breakerState, "closed");
  });

  test("a stalled or refusing Modal times out per attempt and falls back to in-house", async () => {
    // Only Modal's attempts time out at 300 ms: in-house's 429 must arrive whatever a loaded machine's pauses
    const stalled = makeRouter({ ...FAST, minimumRps: 1000 }, { modalPolicy: { ...FAST, attemptTimeoutMs: 300, minimumRps: 1000 } });
    await inhouse.fault("capacity", { n: 1 });
    await modal.fault("stall", { stall_s: 5 });
    assert.deepEqual((await stalled.submit({ action: "succeed" }, key())).decision, { backend: "inhouse", reason: REASONS.modalFailed });
    const { submit } = makeRouter({ ...FAST, minimumRps: 1000 });
    await inhouse.fault("capacity", { n: 1 });
    await modal.fault("refuse");
    assert.deepEqual((await submit({ action: "succeed" }, key())).decision, { backend: "inhouse", reason: REASONS.modalFailed });
  });

  test("burst: two workers, in-house capacity N, 3N jobs: in-house never runs more than N, the rest spill", async () => {
    const a = makeRouter();
    const b = makeRouter();
    const placed = await Promise.all(
      Array.from({ length: 3 * N }, (_, i) => (i % 2 ? a : b).submit({ action: "sleep", seconds: 1.5 }, key())),
    );
    const onInhouse = placed.filter((p) => p.decision.backend === "inhouse");
    const onModal = placed.filter((p) => p.decision.backend === "modal");
    assert.equal(onInhouse.length + onModal.length, 3 * N);
    assert.ok(onModal.length >= N, `${onModal.length} spilled to Modal`);
    assert.ok(onModal.every((p) => p.decision.reason === REASONS.inhouseCapacity));
    const finished = await Promise.all(onInhouse.map((p) => waitForJob(a.clients.inhouse, p.job.id)));
    assert.ok(finished.every((j) => j.status === "succeeded"));
    // Max overlap of in-house run intervals, from the server's own timestamps.
    const edges = finished.flatMap((j) => [[Date.parse(j.started_at!), 1], [Date.parse(j.finished_at!), -1]] as const)
      .sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    let running = 0;
    let peak = 0;
    for (const [, d] of edges) peak = Math.max(peak, (running += d));
    assert.ok(peak <= N, `in-house ran ${peak} at once (capacity ${N})`);
    await Promise.all(onModal.map((p) => waitForJob(a.clients.modal, p.job.id)));
  });

  test("in-house down and Modal full: the step waits for Modal's capacity instead of failing the attempt", async () => {
    let waits = 0;
    const { submit } = makeRouter({ ...FAST, maxAttempts: 1 }, { onSleep: () => void waits++ });
    await inhouse.stop();
    try {
      await modal.fault("capacity", { n: 2, retry_after: 1 });
      const { job, decision } = await submit({ action: "succeed" }, key());
      assert.deepEqual(decision, { backend: "modal", reason: REASONS.inhouseDown });
      assert.equal(job.backend, "modal");
      assert.ok(waits >= 1, "it waited, then Modal took the step");
    } finally {
      await inhouse.start();
    }
  });

  test("in-house down and Modal rejecting us (bad token): the step waits for in-house and goes there when it is back", async () => {
    let waited!: () => void;
    const aWait = new Promise<void>((r) => (waited = r));
    const { submit, metrics } = makeRouter({ ...FAST, maxAttempts: 1, halfOpenAfterMs: 200 }, { modalToken: "not-the-token", onSleep: () => waited() });
    await inhouse.stop();
    let placed: Promise<{ decision: Decision }>;
    try {
      placed = submit({ action: "succeed" }, key());
      placed.catch(() => undefined);
      await Promise.race([aWait, placed]); // refused by in-house, 401 from Modal, and waiting rather than failing
    } finally {
      await inhouse.start();
    }
    assert.deepEqual((await placed).decision, { backend: "inhouse", reason: REASONS.modalRejected });
    assert.match(await metrics.text(), /canvascast_backend_rejections_total\{backend="modal",code="[a-z_]+"\} [1-9]/);
  });

  for (const wrong of ["token", "url"] as const) {
    test(`in-house full and Modal answering ${wrong === "token" ? 401 : 404} (wrong ${wrong}): the step waits for in-house, counted and logged, not failed`, async () => {
      const { submit, metrics } = makeRouter(FAST, wrong === "token" ? { modalToken: "not-the-token" } : { modalUrl: `${modal.url}/no-such-prefix` });
      await inhouse.fault("capacity", { n: 2 });
      const { job, decision } = await submit({ action: "succeed" }, key());
      assert.deepEqual(decision, { backend: "inhouse", reason: REASONS.modalRejected });
      assert.equal(job.backend, "inhouse");
      // At least one rejection per in-house refusal; more when a slot of in-house was still
      // busy with an earlier test's job (a real 429, as on a loaded CI machine).
      const rejected = /canvascast_backend_rejections_total\{backend="modal",code="[a-z_0-9]+"\} (\d+)/.exec(await metrics.text());
      assert.ok(rejected && Number(rejected[1]) >= 2, `rejections counted: ${rejected?.[0]}`);
    });
  }

  test("in-house full and Modal refusing the request itself (400/422): the error is thrown, in-house would refuse it too", async () => {
    const { submit } = makeRouter();
    await inhouse.fault("capacity", { n: 1 });
    await assert.rejects(submit({ action: "no-such-action" }, key()), (e: unknown) => e instanceof HttpError && (e.status === 400 || e.status === 422) && !(e instanceof NoBackendError));
  });

  test("when in-house is down, every step goes to Modal", async () => {
    const { submit, clients } = makeRouter({ ...FAST, maxAttempts: 1 });
    await inhouse.stop();
    try {
      for (let i = 0; i < 4; i++) {
        const { decision } = await submit({ action: "succeed" }, key());
        assert.deepEqual(decision, { backend: "modal", reason: REASONS.inhouseDown });
      }
      assert.equal(clients.inhouse.breakerState, "open", "in-house breaker opened on refused connections");
    } finally {
      await inhouse.start();
    }
  });
});

describe("router waits on a virtual clock (scripted backends)", () => {
  beforeEach(() => mock.timers.enable({ apis: ["Date"], now: 1_700_000_000_000 }));
  afterEach(() => mock.timers.reset());

  const JOB = { id: "m1", kind: "diagnostic", status: "queued", input: {}, backend: "modal", created_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:00Z" };
  /** A backend whose n-th POST gets `answer(n)`; records the (virtual) time of each POST. */
  function scripted(name: "inhouse" | "modal", answer: (n: number) => Response | "refuse") {
    const posts: number[] = [];
    const f = (async () => {
      const a = answer(posts.push(Date.now()) - 1);
      if (a === "refuse") throw Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNREFUSED", message: "connect ECONNREFUSED" } });
      return a;
    }) as unknown as typeof fetch;
    const client = new ComputeClient({ name, baseUrl: `http://${name}.scripted`, policy: { ...FAST, maxAttempts: 1, halfOpenAfterMs: 500 } }, { fetch: f });
    return { client, posts };
  }

  test("in-house down and Modal full: Modal is asked again only after its Retry-After, in-house is polled meanwhile", async () => {
    const full = () => new Response(JSON.stringify({ error: { code: "capacity", message: "full" } }), { status: 429, headers: { "retry-after": "3" } });
    const inhouse = scripted("inhouse", () => "refuse");
    const modal = scripted("modal", (n) => (n < 2 ? full() : new Response(JSON.stringify(JOB), { status: 202 })));
    let inhouseTries = 0;
    const router = new Router({ inhouse: inhouse.client, modal: modal.client }, {
      maxWaitMs: 1000,
      sleep: async (ms) => void mock.timers.tick(ms), // virtual time: the wait plan, not the wall clock
    });
    const { decision } = await router.submit("diagnostic", {}, "k", { onAttempt: (b) => void (b === "inhouse" && inhouseTries++) });
    assert.deepEqual(decision, { backend: "modal", reason: REASONS.inhouseDown });
    assert.equal(modal.posts.length, 3);
    for (let i = 1; i < modal.posts.length; i++) {
      assert.ok(modal.posts[i]! - modal.posts[i - 1]! >= 3000, `Modal asked again ${modal.posts[i]! - modal.posts[i - 1]!} ms after Retry-After: 3`);
    }
    assert.ok(inhouseTries > modal.posts.length, `in-house tried ${inhouseTries} times while Modal was full`);
  });

  test("in-house down and Modal full past the wait budget: NoBackendError (retryable), not an endless wait", async () => {
    const full = () => new Response(JSON.stringify({ error: { code: "capacity", message: "full" } }), { status: 429, headers: { "retry-after": "1" } });
    const router = new Router({ inhouse: scripted("inhouse", () => "refuse").client, modal: scripted("modal", full).client }, {
      maxWaitMs: 1000,
      waitBudgetMs: 10_000,
      sleep: async (ms) => void mock.timers.tick(ms),
    });
    await assert.rejects(router.submit("diagnostic", {}, "k"), (e: unknown) => e instanceof NoBackendError && e.retryable && /in-house down/.test(e.message));
  });

  test("in-house down and no Modal configured: the step waits for in-house, as when it is full, and goes there when it is back", async () => {
    // It was a NoBackendError at once: a few minutes' outage of the compute plane killed every render started in it.
    const INHOUSE_JOB = { ...JOB, id: "i1", backend: "inhouse" };
    const inhouse = scripted("inhouse", (n) => (n < 3 ? "refuse" : new Response(JSON.stringify(INHOUSE_JOB), { status: 202 })));
    let sleeps = 0;
    const router = new Router({ inhouse: inhouse.client }, {
      maxWaitMs: 1000,
      sleep: async (ms) => void (sleeps++, mock.timers.tick(ms)),
    });
    const { job, decision } = await router.submit("diagnostic", {}, "k");
    assert.equal(job.id, "i1");
    assert.deepEqual(decision, { backend: "inhouse", reason: REASONS.modalBreakerOpen });
    assert.equal(inhouse.posts.length, 4, "refused three times (its breaker half-opening between), then taken");
    assert.ok(sleeps >= 3, `waited between tries (${sleeps} waits)`);
  });

  test("in-house down past the wait budget with no Modal configured: NoBackendError (retryable), after waiting out the budget", async () => {
    const inhouse = scripted("inhouse", () => "refuse");
    let waited = 0;
    const router = new Router({ inhouse: inhouse.client }, {
      maxWaitMs: 1000,
      waitBudgetMs: 10_000,
      sleep: async (ms) => void ((waited += ms), mock.timers.tick(ms)),
    });
    await assert.rejects(router.submit("diagnostic", {}, "k"), (e: unknown) =>
      e instanceof NoBackendError && e.retryable && /^in-house down \(econnrefused\) for the whole wait budget, and no Modal backend is configured$/.test(e.message));
    assert.ok(waited >= 10_000, `waited ${waited} ms of a 10000 ms budget`);
    assert.ok(inhouse.posts.length > 1, "in-house was tried again while waiting");
  });
});

describe("an in-house submit that got no answer (scripted backends)", () => {
  const POLICY: Partial<PolicyOptions> = { attemptTimeoutMs: 100, maxAttempts: 2, initialDelayMs: 10, maxDelayMs: 20, minimumRps: 1000 };
  const KEY = "render-1:images:1";

  /** Structured log lines of the router, parsed. */
  function captured() {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    return { logger, events: () => lines.map((l) => l.event) };
  }

  /**
   * In-house as seen through a lossy network: every POST attempt times out without an answer.
   * `deliver` says what happens to the request meanwhile: "now" (the server gets it and does
   * the work, only the answer is lost), or "later" (it is held on the way; `arrive()` hands the
   * held requests to the server, after the client has given up on them).
   */
  function lossyInhouse(server: ScriptedCompute, deliver: "now" | "later" | "never") {
    const held: Array<() => Promise<Response>> = [];
    let posts = 0;
    const f = (async (url: string | URL | Request, init: RequestInit = {}) => {
      if (init.method !== "POST") return server.fetch(url, init);
      posts++;
      const { signal: _ignored, ...rest } = init; // the server goes on once it has the request
      if (deliver === "now") void server.fetch(url, rest);
      if (deliver === "later") held.push(() => server.fetch(url, rest));
      return new Promise<Response>((_, reject) => {
        const abort = () => reject(new DOMException("aborted", "AbortError"));
        if (init.signal?.aborted) abort();
        init.signal?.addEventListener("abort", abort, { once: true });
      });
    }) as typeof fetch;
    const client = new ComputeClient({ name: "inhouse", baseUrl: "http://inhouse.scripted", policy: POLICY }, { fetch: f });
    return { client, posts: () => posts, arrive: () => Promise.all(held.splice(0).map((go) => go())) };
  }

  function setup(deliver: "now" | "later" | "never", deps: { lateSubmitMs?: number; waitBudgetMs?: number } = {}) {
    const inhouse = new ScriptedCompute("inhouse", () => ({ status: "running" }));
    const modal = new ScriptedCompute("modal", () => ({ status: "running" }));
    const lossy = lossyInhouse(inhouse, deliver);
    const logs = captured();
    const router = new Router({ inhouse: lossy.client, modal: modal.client() }, { maxWaitMs: 20, log: logs.logger, ...deps });
    const lookups = () => inhouse.calls.filter((c) => c.method === "GET" && c.path === "/v1/jobs");
    return { inhouse, modal, lossy, logs, router, lookups };
  }

  test("the step goes to Modal; the in-house job the lost POST created is found by key and cancelled, with no second POST", async () => {
    const { inhouse, modal, lossy, logs, router, lookups } = setup("now");
    try {
      const { job, decision } = await router.submit("diagnostic", { action: "succeed" }, KEY);
      assert.deepEqual(decision, { backend: "modal", reason: REASONS.inhouseDown });
      const [copy] = inhouse.submitted("diagnostic");
      assert.equal(copy?.status, "running", "the unanswered POST did create an in-house job");
      await until("the chase over", async () => router.reclaiming === 0, 10_000, 10);
      assert.equal(copy!.status, "cancelled");
      assert.equal(lossy.posts(), POLICY.maxAttempts, "the router POSTed only the step's own attempts");
      assert.deepEqual(inhouse.calls.filter((c) => c.method === "POST").length, POLICY.maxAttempts, "the server got no other POST");
      assert.equal(inhouse.jobs.size, 1);
      const [lookup] = lookups();
      assert.equal(new URLSearchParams(lookup!.query).get("idempotency_key"), KEY);
      assert.equal(new URLSearchParams(lookup!.query).get("kind"), "diagnostic");
      assert.deepEqual(inhouse.calls.filter((c) => c.method === "DELETE").map((c) => c.path), [`/v1/jobs/${copy!.id}`]);
      assert.equal(modal.jobs.get(job.id)?.status, "running", "the Modal job, the one the step polls, runs on");
      assert.ok(logs.events().includes("inhouse_duplicate_cancelled"));
    } finally {
      await router.close();
    }
  });

  test("a POST the server is still handling (404 submission_in_progress) is waited out, then its job is cancelled", async () => {
    const { inhouse, lossy, logs, router, lookups } = setup("now", { lateSubmitMs: 0 }); // only the server's word keeps the chase on
    let finish!: () => void;
    const handled = new Promise<void>((r) => (finish = r));
    inhouse.hold = () => handled;
    try {
      const { decision } = await router.submit("diagnostic", { action: "succeed" }, KEY);
      assert.deepEqual(decision, { backend: "modal", reason: REASONS.inhouseDown });
      assert.equal(inhouse.jobs.size, 0, "the server has not created the job yet");
      await until("a lookup answered submission_in_progress", async () => lookups().some((c) => c.code === "submission_in_progress"), 10_000, 10);
      assert.equal(router.reclaiming, 1, "still chasing");
      finish(); // the server ends the POST it was handling: the job exists now
      await until("the chase over", async () => router.reclaiming === 0, 10_000, 10);
      const [copy] = inhouse.submitted("diagnostic");
      assert.equal(copy?.status, "cancelled");
      assert.equal(lossy.posts(), POLICY.maxAttempts, "never POSTed again");
      assert.equal(inhouse.jobs.size, 1);
      assert.ok(logs.events().includes("inhouse_duplicate_cancelled"));
    } finally {
      finish();
      await router.close();
    }
  });

  test("a POST that reaches in-house after a 404 not_found (late on the network) is still cancelled within lateSubmitMs", async () => {
    const { inhouse, lossy, logs, router, lookups } = setup("later", { lateSubmitMs: 60_000 });
    try {
      const { decision } = await router.submit("diagnostic", { action: "succeed" }, KEY);
      assert.deepEqual(decision, { backend: "modal", reason: REASONS.inhouseDown });
      await until("a lookup answered not_found", async () => lookups().some((c) => c.code === "not_found"), 10_000, 10);
      assert.equal(inhouse.jobs.size, 0);
      await lossy.arrive(); // the lost POSTs reach the server now: it creates the job
      await until("the chase over", async () => router.reclaiming === 0, 10_000, 10);
      const [copy] = inhouse.submitted("diagnostic");
      assert.equal(copy?.status, "cancelled");
      assert.equal(inhouse.jobs.size, 1, "both lost attempts carried the same key: one job");
      assert.equal(lossy.posts(), POLICY.maxAttempts, "never POSTed again");
      assert.ok(logs.events().includes("inhouse_duplicate_cancelled"));
    } finally {
      await router.close();
    }
  });

  test("once a POST can no longer arrive, not_found is final: the chase ends without cancelling or POSTing anything", async () => {
    const { inhouse, lossy, logs, router, lookups } = setup("never", { lateSubmitMs: 0 });
    try {
      await router.submit("diagnostic", { action: "succeed" }, KEY);
      await until("the chase over", async () => router.reclaiming === 0, 10_000, 10);
      assert.equal(lookups().length, 1);
      assert.deepEqual(inhouse.calls.map((c) => `${c.method} ${c.path} ${c.status}`), ["GET /v1/jobs 404"]);
      assert.equal(lossy.posts(), POLICY.maxAttempts);
      assert.ok(logs.events().includes("inhouse_no_duplicate"));
    } finally {
      await router.close();
    }
  });

  test("a submission still in progress when the budget runs out: the chase gives up (logged), never re-POSTs", async () => {
    const { inhouse, lossy, logs, router, lookups } = setup("now", { lateSubmitMs: 0, waitBudgetMs: 200 });
    let finish!: () => void;
    inhouse.hold = () => new Promise<void>((r) => (finish = r));
    try {
      await router.submit("diagnostic", { action: "succeed" }, KEY);
      await until("the chase over", async () => router.reclaiming === 0, 10_000, 10);
      assert.ok(lookups().length >= 1 && lookups().every((c) => c.code === "submission_in_progress"));
      assert.ok(logs.events().includes("inhouse_duplicate_unresolved"));
      assert.equal(lossy.posts(), POLICY.maxAttempts);
      assert.equal(inhouse.calls.filter((c) => c.method === "DELETE").length, 0);
    } finally {
      finish?.();
      await router.close();
    }
  });

  test("a refused in-house connection sent nothing: the step goes to Modal with nothing to chase", async () => {
    const modal = new ScriptedCompute("modal", () => ({ status: "running" }));
    let inhouseCalls = 0;
    const refused = (async () => {
      inhouseCalls++;
      throw Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNREFUSED", message: "connect ECONNREFUSED" } });
    }) as unknown as typeof fetch;
    const router = new Router({
      inhouse: new ComputeClient({ name: "inhouse", baseUrl: "http://inhouse.scripted", policy: POLICY }, { fetch: refused }),
      modal: modal.client(),
    }, { maxWaitMs: 20 });
    const { decision } = await router.submit("diagnostic", { action: "succeed" }, "render-2:images:1");
    assert.deepEqual(decision, { backend: "modal", reason: REASONS.inhouseDown });
    assert.equal(router.reclaiming, 0);
    await router.close();
    assert.equal(inhouseCalls, POLICY.maxAttempts, "in-house was not asked again (no POST, no lookup)");
  });
});
