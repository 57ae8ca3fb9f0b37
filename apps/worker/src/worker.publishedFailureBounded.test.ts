/**
 * A render whose video is published is run again past max_attempts, to record its success.
 * But a failure that repeats after the publish (the object gone so signing it fails, a
 * completion the database keeps refusing) kept it `queued` for good: claim held `attempts` at
 * max_attempts, so the backoff stopped growing and the render came back every few minutes (every
 * few seconds with max_attempts = 1), its MP4 in storage, forever. Now such a render gets
 * PUBLISHED_EXTRA_ATTEMPTS runs past max_attempts; after those it is dead and what it published
 * is removed.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Db } from "./db/db.ts";
import { claim, fail, getRender, reapDead, saveStep } from "./queue/index.ts";
import { PUBLISHED_EXTRA_ATTEMPTS } from "./queue/published.ts";
import { openMigratedPglite } from "../test/support/migratedPglite.ts";
import { recordingPublisher, renderedUpToPublish, VIDEO } from "../test/support/publishing.ts";
import { renderEnded, withWorker } from "../test/support/testWorker.ts";
import { until } from "../test/support/until.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

const INTERNAL = { code: "internal", message: "signing failed", retryable: true };

/** A render with its publish step succeeded (its video at renders/o/<id>.mp4). */
async function publishedRender(maxAttempts: number): Promise<string> {
  const id = await renderedUpToPublish(db, { maxAttempts });
  await saveStep(db, id, "publish", { status: "succeeded", step_attempt: 1, finished_at: new Date(), output: { ...VIDEO, key: `renders/o/${id}.mp4` } });
  return id;
}

test("a published render that fails after its publish every time is dead after max_attempts + PUBLISHED_EXTRA_ATTEMPTS", async () => {
  const id = await publishedRender(2);
  const statuses: string[] = [];
  for (let i = 0; i < 2 + PUBLISHED_EXTRA_ATTEMPTS; i++) {
    const row = await claim(db, "w1", 30);
    assert.equal(row?.id, id, `claimed for run ${i + 1}`);
    assert.equal(row?.attempts, i + 1, "every run counts an attempt (so the backoff keeps growing)");
    statuses.push((await fail(db, id, "w1", INTERNAL, 0))!);
  }
  assert.deepEqual(statuses, [...Array(1 + PUBLISHED_EXTRA_ATTEMPTS).fill("queued"), "dead"]);
  assert.equal(await claim(db, "w1", 30), null, "never claimed again");
  assert.ok((await getRender(db, id))?.finished_at, "a dead render is finished");
});

test("a published render whose lease lapses on its last extra run is reaped dead, not claimed again", async () => {
  const id = await publishedRender(1);
  for (let i = 0; i < PUBLISHED_EXTRA_ATTEMPTS; i++) {
    assert.equal((await claim(db, "died", -1))?.id, id);
    assert.deepEqual(await reapDead(db, "w2"), [], "still within its extra runs");
  }
  assert.equal((await claim(db, "died", -1))?.id, id, "its last extra run");
  assert.deepEqual(await reapDead(db, "w2"), [id]);
  assert.equal((await getRender(db, id))?.status, "dead");
});

test("a worker whose signing fails after the publish, every time: the render ends dead and its video is removed", async () => {
  const id = await publishedRender(1);
  const { stored, publisher } = recordingPublisher();
  stored.add(`renders/o/${id}.mp4`); // what the attempt that published copied
  let signs = 0;
  publisher.signedUrl = async () => {
    // Gone from storage: signing it fails every time (but for a bound, so that a render retried
    // for good ends, succeeded, and the test fails instead of hanging).
    if (++signs > 20) return "https://signed.example/at-last";
    throw new Error("Object not found");
  };
  await withWorker({ db, publisher }, async () => {
    const end = await renderEnded(db, id);
    assert.equal(end.status, "dead", `ended ${end.status} after ${signs} runs`);
    assert.equal(end.attempts, 1 + PUBLISHED_EXTRA_ATTEMPTS);
    assert.equal(signs, 1 + PUBLISHED_EXTRA_ATTEMPTS, "run once per attempt, then never again");
    await until("its video removed", async () => stored.size === 0, 10_000, 10);
  });
});
