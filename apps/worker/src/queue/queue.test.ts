import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Db } from "../db/db.ts";
import { migrate } from "../db/migrate.ts";
import { openPglite } from "../db/pglite.ts";
import { openPostgres } from "../db/postgres.ts";
import { createTestDatabase } from "../../test/support/postgres.ts";
import * as q from "./index.ts";

const REQUEST = { narration_audio: "artifacts/sha256/aa/" + "a".repeat(64) + ".wav", scenes: [{ narration: "hi", image_prompt: "x" }] };

const engines: Array<[string, () => Promise<{ db: Db; done: () => Promise<void> }>]> = [
  ["pglite", async () => {
    const db = await openPglite();
    return { db, done: () => db.close() };
  }],
  ["postgres", async () => {
    const t = createTestDatabase();
    const db = openPostgres(t.url);
    return { db, done: async () => { await db.close(); t.drop(); } };
  }],
];

for (const [name, open] of engines) {
  describe(`queue on ${name}`, () => {
    let db: Db;
    let done: () => Promise<void>;
    before(async () => {
      ({ db, done } = await open());
      await migrate(db);
    });
    after(async () => done());

    const fresh = async (extra: Partial<{ maxAttempts: number; key: string }> = {}) =>
      (await q.enqueue(db, { owner: "alice", request: REQUEST, idempotencyKey: extra.key ?? null, maxAttempts: extra.maxAttempts ?? 3 })).row;
    const drain = async () => db.query(`update render_jobs set status = 'cancelled' where status in ('queued','running')`);

    test("a duplicate idempotency key gives one render", async () => {
      const a = await q.enqueue(db, { owner: "alice", request: REQUEST, idempotencyKey: "k1" });
      const b = await q.enqueue(db, { owner: "alice", request: REQUEST, idempotencyKey: "k1" });
      assert.equal(a.created, true);
      assert.equal(b.created, false);
      assert.equal(a.row.id, b.row.id);
      const other = await q.enqueue(db, { owner: "bob", request: REQUEST, idempotencyKey: "k1" });
      assert.notEqual(other.row.id, a.row.id, "keys are per owner");
      await drain();
    });

    test("claims a ready job once, with a lease and a bumped attempt", async () => {
      const row = await fresh();
      const c = await q.claim(db, "w1", 30);
      assert.equal(c?.id, row.id);
      assert.equal(c?.status, "running");
      assert.equal(c?.attempts, 1);
      assert.equal(c?.locked_by, "w1");
      assert.equal(await q.claim(db, "w2", 30), null, "a leased job is not claimable");
      assert.ok(await q.complete(db, row.id, "w1", { ok: true }));
      assert.equal((await q.getRender(db, row.id))?.status, "succeeded");
    });

    test("heartbeat renews only the holder's lease", async () => {
      const row = await fresh();
      await q.claim(db, "w1", 30);
      assert.deepEqual(await q.heartbeat(db, row.id, "w1", 30), { status: "running", cancel: false });
      assert.equal(await q.heartbeat(db, row.id, "w2", 30), null);
      await q.cancel(db, row.id, "alice");
      assert.deepEqual(await q.heartbeat(db, row.id, "w1", 30), { status: "cancelled", cancel: true });
    });

    test("another worker reclaims a job whose lease expired", async () => {
      const row = await fresh();
      await q.claim(db, "dead-worker", -1); // lease already in the past: the worker "died"
      const c = await q.claim(db, "w2", 30);
      assert.equal(c?.id, row.id);
      assert.equal(c?.attempts, 2);
      assert.equal(c?.last_error?.code, "lease_expired");
      assert.equal(await q.complete(db, row.id, "dead-worker", {}), false, "the old holder can no longer complete");
      assert.ok(await q.complete(db, row.id, "w2", {}));
    });

    test("a worker neither re-claims nor reaps a render it still runs whose lease lapsed", async () => {
      const row = await fresh({ maxAttempts: 2 });
      await q.claim(db, "w1", -1); // w1 runs it, but its heartbeats did not land: the lease is in the past
      assert.equal(await q.claim(db, "w1", 30, [row.id]), null, "not a new attempt of what w1 is running");
      assert.equal((await q.getRender(db, row.id))?.attempts, 1);
      assert.deepEqual(await q.heartbeat(db, row.id, "w1", -1), { status: "running", cancel: false }, "w1 still holds it");
      const reclaimed = await q.claim(db, "w1", -1, []); // w1 no longer runs it (its attempt ended without a word)
      assert.equal(reclaimed?.id, row.id);
      assert.equal(reclaimed?.attempts, 2);
      assert.deepEqual(await q.reapDead(db, "w1", [row.id]), [], "w1 does not declare dead what it is running");
      assert.ok((await q.reapDead(db, "w2", [])).includes(row.id), "another worker does: it cannot tell a stall from a death");
      assert.equal((await q.getRender(db, row.id))?.status, "dead");
    });

    test("a retryable failure requeues with backoff computed in SQL", async () => {
      const row = await fresh();
      await q.claim(db, "w1", 30);
      const status = await q.fail(db, row.id, "w1", { code: "transient", message: "boom", retryable: true }, 1);
      assert.equal(status, "queued");
      // From the moment the failure was recorded (updated_at: the same transaction's now()), so no pause between
      // the two statements changes it
      const [r] = await db.query<{ delay: number; last_error: { code: string } }>(
        `select extract(epoch from run_at - updated_at)::float8 as delay, last_error from render_jobs where id = $1`, [row.id]);
      assert.ok(Math.abs(r!.delay - Math.exp(1)) < 0.01, `delay ${r!.delay} = e^1`);
      assert.equal(r!.last_error.code, "transient");
      assert.equal(await q.claim(db, "w1", 30), null, "not claimable before run_at");
      await drain();
    });

    test("out of attempts goes to dead with its last error; non-retryable goes to failed", async () => {
      const row = await fresh({ maxAttempts: 2 });
      for (let i = 0; i < 2; i++) {
        const c = await q.claim(db, "w1", 30);
        assert.equal(c?.id, row.id);
        const st = await q.fail(db, row.id, "w1", { code: "transient", message: `try ${i}`, retryable: true }, 0);
        assert.equal(st, i === 0 ? "queued" : "dead");
        await db.query(`update render_jobs set run_at = now() where id = $1`, [row.id]);
      }
      const dead = await q.getRender(db, row.id);
      assert.equal(dead?.status, "dead");
      assert.equal(dead?.last_error?.message, "try 1");

      const bad = await fresh();
      await q.claim(db, "w1", 30);
      assert.equal(await q.fail(db, bad.id, "w1", { code: "bad_audio", message: "no", retryable: false }, 0), "failed");
    });

    test("a lease that expires on the last attempt is reaped to dead", async () => {
      const row = await fresh({ maxAttempts: 1 });
      await q.claim(db, "w1", -1);
      assert.equal(await q.claim(db, "w2", 30), null);
      assert.deepEqual(await q.reapDead(db), [row.id]);
      assert.equal((await q.getRender(db, row.id))?.status, "dead");
    });

    test("steps persist backend, compute job id and outputs", async () => {
      const row = await fresh();
      await q.saveStep(db, row.id, "images", { status: "submitting", backend: "inhouse", step_attempt: 1, idempotency_key: `${row.id}:images:1` });
      await q.saveStep(db, row.id, "images", { status: "running", compute_job_id: "job-1" });
      await q.saveStep(db, row.id, "align", { status: "succeeded", output: { words: [] } });
      const steps = await q.listSteps(db, row.id);
      assert.deepEqual(steps.map((s) => [s.step, s.status, s.backend, s.compute_job_id]), [
        ["images", "running", "inhouse", "job-1"],
        ["align", "succeeded", null, null],
      ]);
      assert.deepEqual(steps[1]!.output, { words: [] });
      await drain();
    });

    test("a worker whose lease was taken over cannot write the new holder's steps", async () => {
      await drain();
      const row = await fresh();
      assert.equal((await q.claim(db, "w1", -1))?.id, row.id); // a lease that lapses at once
      assert.ok(await q.saveHeldStep(db, row.id, "w1", "images", { status: "running", step_attempt: 1, compute_job_id: "job-w1" }));
      assert.equal((await q.claim(db, "w2", 30))?.id, row.id); // taken over
      assert.equal(await q.saveHeldStep(db, row.id, "w1", "images", { compute_job_id: "job-stale" }), null);
      assert.equal(await q.saveHeldStep(db, row.id, "w1", "align", { status: "running" }), null); // no new row either
      assert.ok(await q.saveHeldStep(db, row.id, "w2", "images", { compute_job_id: "job-w2", started_at: new Date(), progress: { done: 1 } }));
      const steps = await q.listSteps(db, row.id);
      assert.deepEqual(steps.map((s) => [s.step, s.compute_job_id, s.step_attempt]), [["images", "job-w2", 1]]);
      await drain();
    });

    test("another owner cannot read or cancel", async () => {
      const row = await fresh();
      assert.equal(await q.getRender(db, row.id, "mallory"), null);
      assert.equal(await q.cancel(db, row.id, "mallory"), null);
      assert.equal((await q.cancel(db, row.id, "alice"))?.status, "cancelled");
      assert.equal(await q.getRender(db, "not-a-uuid", "alice"), null);
    });
  });
}
