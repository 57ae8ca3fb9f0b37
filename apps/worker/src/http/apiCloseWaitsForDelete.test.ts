/**
 * The owner's DELETE answers at once and leaves two things running: the cancel of the
 * render's compute jobs and the removal of what it published. Closing the API (app.stop() at
 * a deploy) waits for them, within a bound: cut off, a compute job kept running (and billing)
 * with its step never marked cancelled, or an MP4 stayed in storage.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Db } from "../db/db.ts";
import { log } from "../log.ts";
import { Metrics } from "../metrics.ts";
import { claim, enqueue, fail, listSteps, saveStep } from "../queue/index.ts";
import { Router } from "../router/index.ts";
import type { Publisher } from "../storage/publisher.ts";
import { recordingPublisher, VIDEO } from "../../test/support/publishing.ts";
import { ScriptedCompute } from "../../test/support/scriptedCompute.ts";
import { until } from "../../test/support/until.ts";
import { parseTokens } from "./auth.ts";
import { buildApi } from "./server.ts";
import { openMigratedPglite, SMALL_REQUEST } from "../../test/support/migratedPglite.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

const quiet = log.child({}, { level: "silent" });

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

/** A publisher whose removals, once `entered()`, wait for the `removing` gate. */
const gatedStore = (removing: { opened: Promise<void> }, entered: () => void) =>
  recordingPublisher({ beforeRemove: async () => { entered(); await removing.opened; } });

/** A queued render with a compute job still running and its video published by an earlier attempt. */
async function queuedWithJobAndVideo(compute: ScriptedCompute, publisher: Publisher): Promise<{ id: string; job: string }> {
  const { row } = await enqueue(db, { owner: "alice", request: SMALL_REQUEST, maxAttempts: 3 });
  await db.query(`update render_jobs set status = 'cancelled' where id <> $1 and status in ('queued', 'running')`, [row.id]);
  assert.equal((await claim(db, "w1", 30))?.id, row.id);
  const made = await compute.client().submit("generate_images", { prompts: [] }, `${row.id}:images:1`);
  await saveStep(db, row.id, "images", { status: "running", step_attempt: 1, backend: "inhouse", compute_job_id: made.id });
  await saveStep(db, row.id, "render", { status: "succeeded", step_attempt: 1, output: { video: VIDEO, durationMs: 1000 } });
  await saveStep(db, row.id, "publish", { status: "failed", step_attempt: 1, error: { code: "storage_unavailable", message: "503", retryable: true } });
  await publisher.publish(VIDEO, "alice", row.id);
  assert.equal(await fail(db, row.id, "w1", { code: "storage_unavailable", message: "503", retryable: true }, 60), "queued");
  return { id: row.id, job: made.id };
}

test("closing the API right after a DELETE waits for the compute cancel and the unpublish it started", async () => {
  const compute = new ScriptedCompute("inhouse", () => ({ status: "running" }));
  const cancelling = gate();
  const removing = gate();
  const started = { cancel: false, remove: false };
  const fetch = compute.fetch;
  (compute as { fetch: typeof fetch }).fetch = async (url, init = {}) => {
    if (init.method === "DELETE") {
      started.cancel = true;
      await cancelling.opened;
    }
    return fetch(url, init);
  };
  const { stored, publisher } = gatedStore(removing, () => (started.remove = true));
  const router = new Router({ inhouse: compute.client() });
  let draining = () => {};
  const spy = log.child({}, { level: "silent" });
  spy.info = ((obj: { event?: string }) => void (obj?.event === "api_draining" && draining())) as typeof spy.info;
  const api = buildApi({ db, router, metrics: new Metrics(), log: spy, tokens: parseTokens("tok-alice:alice"), publisher });
  try {
    const { id, job } = await queuedWithJobAndVideo(compute, publisher);
    const res = await api.inject({ method: "DELETE", url: `/v1/renders/${id}`, headers: { authorization: "Bearer tok-alice" } });
    assert.equal(res.statusCode, 200, res.body);
    await until("the cancel and the removal under way", async () => started.cancel && started.remove, 10_000, 5);
    // Let go once close() says it is waiting for them (not before: it could not be told apart).
    draining = () => {
      cancelling.open();
      removing.open();
    };
    await api.close();
    assert.equal(compute.jobs.get(job)?.status, "cancelled", "the compute job was cancelled before close() returned");
    assert.equal((await listSteps(db, id)).find((s) => s.step === "images")?.status, "cancelled", "and its step marked so");
    assert.deepEqual([...stored], [], "the published video was removed before close() returned");
  } finally {
    cancelling.open();
    removing.open();
    await router.close();
    await api.close();
  }
});

test("a DELETE's background work that never ends does not hold close() past its bound", async () => {
  const compute = new ScriptedCompute("inhouse", () => ({ status: "running" }));
  const never = gate(); // opened only after close() returned
  const { publisher } = gatedStore(never, () => {});
  const router = new Router({ inhouse: compute.client() });
  const api = buildApi({ db, router, metrics: new Metrics(), log: quiet, tokens: parseTokens("tok-alice:alice"), publisher, drainTimeoutMs: 50 });
  try {
    const { id } = await queuedWithJobAndVideo(compute, publisher);
    const res = await api.inject({ method: "DELETE", url: `/v1/renders/${id}`, headers: { authorization: "Bearer tok-alice" } });
    assert.equal(res.statusCode, 200, res.body);
    await api.close(); // returns: the hung removal is given up on
  } finally {
    never.open();
    await router.close();
  }
});
