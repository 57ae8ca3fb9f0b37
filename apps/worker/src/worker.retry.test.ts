/**
 * A render whose attempt failed and waits for its retry says so through the HTTP API (GET,
 * list and events): still `queued`, but with next_attempt_at and last_error, and no `error`
 * until it has ended. Driven against a real `canvascast serve` whose submissions fail
 * (fault injection: 503 upstream_unavailable), so each attempt fails for real.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ComputeClient } from "./client/modal-client.ts";
import type { Db } from "./db/db.ts";
import { migrate } from "./db/migrate.ts";
import { openPglite } from "./db/pglite.ts";
import { buildApi } from "./http/server.ts";
import { parseTokens } from "./http/auth.ts";
import { log } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { claim } from "./queue/index.ts";
import { Router } from "./router/index.ts";
import type { Publisher } from "./storage/publisher.ts";
import { Worker } from "./worker.ts";
import { ComputeServer } from "../test/support/computeServer.ts";
import { tempDir } from "../test/support/tmp.ts";
import { until } from "../test/support/until.ts";

const TOKEN = "retry-test-token";
const REQUEST = {
  title: "retried",
  narration_audio: `artifacts/sha256/aa/${"a".repeat(64)}.wav`,
  scenes: [{ narration: "hello world", image_prompt: "a lighthouse" }],
};
const BACKOFF_S = 1; // the first retry waits 1 · e¹ ≈ 2.7 s

const dir = tempDir("cc-retry-");
const compute = new ComputeServer({ dataDir: `${dir.path}/compute`, token: TOKEN, kinds: ["diagnostic"], faultInjection: true });
let db: Db;
let api: ReturnType<typeof buildApi>;
let base: string;
let worker: Worker;

before(async () => {
  db = await openPglite();
  await migrate(db);
  await compute.start();
  const metrics = new Metrics();
  const client = new ComputeClient({ name: "inhouse", baseUrl: compute.url, token: TOKEN, policy: { maxAttempts: 2, initialDelayMs: 10, maxDelayMs: 20 } }, { metrics });
  // No wait budget: with no Modal, a compute plane that fails every submission fails the
  // attempt at once (NoBackendError, retryable) instead of being waited for.
  const router = new Router({ inhouse: client }, { metrics, waitBudgetMs: 0 });
  worker = new Worker({ db, router, publisher: {} as Publisher, metrics, log, workerId: "w1" }, { backoffBaseSeconds: BACKOFF_S, random: () => 0.5 }); // the middle of the jitter: the curve itself
  api = buildApi({ db, router, metrics, log, tokens: parseTokens("tok:owner1"), maxAttempts: 2, eventsPollMs: 20 });
  base = await api.listen({ host: "127.0.0.1", port: 0 });
});
after(async () => {
  await api?.close();
  await db?.close();
  await compute.stop();
  dir.cleanup();
});

type View = Record<string, unknown> & {
  status: string; attempts: number; max_attempts: number; run_at: string;
  next_attempt_at: string | null; last_error: { code: string; message: string; retryable: boolean } | null; error: unknown;
};
const get = async (path: string): Promise<View & { data?: View[] }> =>
  (await (await fetch(base + path, { headers: { authorization: "Bearer tok" } })).json()) as View & { data?: View[] };

/** Every `render` event of the render's stream until `end`. */
async function events(id: string): Promise<View[]> {
  const res = await fetch(`${base}/v1/renders/${id}/events`, { headers: { authorization: "Bearer tok" } });
  const text = await res.text();
  return [...text.matchAll(/event: render\ndata: (.*)\n/g)].map((m) => JSON.parse(m[1]!) as View);
}

test("a failed attempt waiting for its retry: queued with next_attempt_at and last_error, no error until the render ends", { timeout: 60_000 }, async () => {
  await compute.fault("fail"); // every submission: 503 upstream_unavailable
  const posted = await fetch(`${base}/v1/renders`, { method: "POST", headers: { authorization: "Bearer tok", "content-type": "application/json" }, body: JSON.stringify(REQUEST) });
  const fresh = (await posted.json()) as View & { id: string };
  assert.deepEqual(
    [fresh.status, fresh.attempts, fresh.max_attempts, fresh.next_attempt_at, fresh.last_error, fresh.error],
    ["queued", 0, 2, null, null, null],
    "a new render: queued, nothing tried, nothing failed",
  );
  const stream = events(fresh.id);

  // Attempt 1 fails for real: the compute plane refuses both steps' submissions.
  const first = await claim(db, "w1", 30);
  assert.equal(first?.id, fresh.id);
  await worker.process(first!);
  const waiting = await get(`/v1/renders/${fresh.id}`);
  assert.equal(waiting.status, "queued", "still queued: it will run again");
  assert.equal(waiting.attempts, 1);
  assert.equal(waiting.max_attempts, 2);
  assert.ok(waiting.next_attempt_at, "waiting for a retry says when");
  assert.equal(waiting.next_attempt_at, waiting.run_at);
  // The backoff from the moment the failure was recorded (updated_at, the same transaction's now()).
  const wait = Date.parse(waiting.next_attempt_at) - Date.parse(waiting.updated_at as string);
  assert.ok(Math.abs(wait - BACKOFF_S * Math.E * 1000) < 2, `retry ${wait} ms after the failure`);
  assert.equal(waiting.last_error?.retryable, true);
  assert.match(waiting.last_error?.message ?? "", /upstream_unavailable/, JSON.stringify(waiting.last_error));
  assert.equal(waiting.error, null, "not an error of the render: it has not ended");
  const listed = (await get("/v1/renders")).data!.find((r) => r.id === fresh.id)!;
  assert.deepEqual([listed.next_attempt_at, listed.last_error, listed.error], [waiting.next_attempt_at, waiting.last_error, null], "the list says the same");

  // Attempt 2: claimable once next_attempt_at has come, then no longer waiting.
  const second = await until("the retry to come due", () => claim(db, "w1", 30), 10_000, 100);
  assert.ok(Date.now() >= Date.parse(waiting.next_attempt_at!) - 50, "not claimed before next_attempt_at");
  const running = await get(`/v1/renders/${fresh.id}`);
  assert.deepEqual([running.status, running.attempts, running.next_attempt_at, running.error], ["running", 2, null, null]);
  assert.deepEqual(running.last_error, waiting.last_error, "while the retry runs, last_error says why attempt 1 failed");

  // Out of attempts: dead, and now error says why.
  await worker.process(second);
  const dead = await get(`/v1/renders/${fresh.id}`);
  assert.deepEqual([dead.status, dead.attempts, dead.next_attempt_at], ["dead", 2, null]);
  assert.equal((dead.error as { code: string } | null)?.code, dead.last_error?.code);
  assert.ok(dead.last_error);

  // The event stream carried the same view: a retry-waiting event, then the end.
  const seen = await stream;
  assert.ok(seen.some((e) => e.status === "queued" && e.next_attempt_at === waiting.next_attempt_at && e.last_error && e.error === null), JSON.stringify(seen));
  assert.deepEqual(seen[0]!.next_attempt_at, null, "the first event: a new render");
  assert.equal(seen.at(-1)!.status, "dead");
  await compute.fault("none");
});
