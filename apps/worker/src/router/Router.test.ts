/**
 * The router against two real compute servers on 127.0.0.1: `canvascast serve` as in-house
 * and a second one with `--backend-name modal` and fault injection as the Modal backend.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, beforeEach, describe, mock, test } from "node:test";
import { BrokenCircuitError } from "cockatiel";
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

  /** `modalUrl`/`modalToken` misconfigure the Modal client; `onSleep` sees each wait of the router. */
  function makeRouter(policy: Partial<PolicyOptions> = FAST, o: { modalUrl?: string; modalToken?: string; onSleep?: (ms: number) => void } = {}) {
    const metrics = new Metrics();
    const clients = {
      inhouse: new ComputeClient({ name: "inhouse", baseUrl: inhouse.url, token: TOKEN, policy }, { metrics }),
      modal: new ComputeClient({ name: "modal", baseUrl: o.modalUrl ?? modal.url, token: o.modalToken ?? TOKEN, policy }, { metrics }),
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
    const { clients } = makeRouter({ ...FAST, maxAttempts: 1, halfOpenAfterMs: 300 });
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
    const stalled = makeRouter({ ...FAST, attemptTimeoutMs: 300, minimumRps: 1000 });
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
      assert.match(await metrics.text(), /canvascast_backend_rejections_total\{backend="modal",code="[a-z_0-9]+"\} 2/);
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
});

describe("an in-house submit that got no answer (scripted backends)", () => {
  const POLICY: Partial<PolicyOptions> = { attemptTimeoutMs: 100, maxAttempts: 2, initialDelayMs: 10, maxDelayMs: 20, minimumRps: 1000 };

  test("the step goes to Modal and the in-house job the lost POST created is cancelled once in-house answers", async () => {
    const inhouse = new ScriptedCompute("inhouse", () => ({ status: "running" }));
    const modal = new ScriptedCompute("modal", () => ({ status: "running" }));
    let answering = false;
    // The in-house server does the work of every POST, but while `answering` is false its
    // answers never arrive (each attempt times out): it is slow, not down.
    const lossy = (async (url: string | URL | Request, init: RequestInit = {}) => {
      const res = await inhouse.fetch(url, init);
      if (!answering && init.method === "POST") {
        await new Promise((_, reject) => init.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")), { once: true }));
      }
      return res;
    }) as typeof fetch;
    const router = new Router({
      inhouse: new ComputeClient({ name: "inhouse", baseUrl: "http://inhouse.scripted", policy: POLICY }, { fetch: lossy }),
      modal: modal.client(),
    }, { maxWaitMs: 20 });
    try {
      const { job, decision } = await router.submit("diagnostic", { action: "succeed" }, "render-1:images:1");
      assert.deepEqual(decision, { backend: "modal", reason: REASONS.inhouseDown });
      const [copy] = inhouse.submitted("diagnostic");
      assert.equal(copy?.status, "running", "the unanswered POST did create an in-house job");
      answering = true;
      await until("the in-house copy cancelled", async () => copy!.status === "cancelled", 10_000, 20);
      assert.equal(inhouse.jobs.size, 1, "in-house was asked by the same key: it gave back that job, no new one");
      assert.equal(modal.jobs.get(job.id)?.status, "running", "the Modal job, the one the step polls, runs on");
    } finally {
      await router.close();
    }
  });

  test("a refused in-house connection sent nothing: the step goes to Modal with nothing to chase", async () => {
    const modal = new ScriptedCompute("modal", () => ({ status: "running" }));
    let inhousePosts = 0;
    const refused = (async () => {
      inhousePosts++;
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
    assert.equal(inhousePosts, POLICY.maxAttempts, "in-house was not asked again");
  });
});
