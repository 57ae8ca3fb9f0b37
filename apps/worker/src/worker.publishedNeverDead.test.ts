/**
 * A render whose video is published is not declared dead at max_attempts. When the
 * statement recording it succeeded fails (a database blip past retryStatement's tries) on its last attempt, the
 * attempt's failure is not what happened to the render: it goes back to be completed (its
 * steps are all reused, only the URLs are signed again), and a lease that lapses after the
 * publish is not reaped dead but claimed again. Declared dead, the owner saw a failed render
 * whose MP4 sat in storage.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Db } from "./db/db.ts";
import { claim, fail, reapDead, saveStep } from "./queue/index.ts";
import { droppingDb } from "../test/support/droppingDb.ts";
import { openMigratedPglite } from "../test/support/migratedPglite.ts";
import { recordingPublisher, renderedUpToPublish, VIDEO } from "../test/support/publishing.ts";
import { renderEnded, withWorker } from "../test/support/testWorker.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

/** A render on its last attempt with every compute step done; `published`: its publish step too. */
async function lastAttemptRendered(published: boolean): Promise<string> {
  const id = await renderedUpToPublish(db, { maxAttempts: 1 });
  if (published) await saveStep(db, id, "publish", { status: "succeeded", step_attempt: 1, finished_at: new Date(), output: { ...VIDEO, key: `renders/o/${id}.mp4` } });
  return id;
}

test("a lease that lapsed after the publish, on the last attempt, is claimed again, not reaped dead", async () => {
  const id = await lastAttemptRendered(true);
  assert.equal((await claim(db, "died", -1))?.id, id); // its worker died before recording the success
  assert.deepEqual(await reapDead(db, "w2"), [], "a published render is not dead");
  const again = await claim(db, "w2", 30);
  assert.equal(again?.id, id, "claimed again to be completed");
  assert.equal(again?.attempts, 2, "an extra run past max_attempts, counted (they are bounded: worker.publishedFailureBounded.test.ts)");
  await db.query(`update render_jobs set status = 'cancelled' where id = $1`, [id]);
});

test("a retryable failure recorded after the publish, on the last attempt, queues the render again instead of dead", async () => {
  const id = await lastAttemptRendered(true);
  await claim(db, "w1", 30);
  assert.equal(await fail(db, id, "w1", { code: "internal", message: "connection terminated", retryable: true }, 0), "queued");
  assert.equal((await claim(db, "w2", 30))?.id, id, "and claimable");
  await db.query(`update render_jobs set status = 'cancelled' where id = $1`, [id]);
});

test("an unpublished render on its last attempt still goes dead", async () => {
  const id = await lastAttemptRendered(false);
  await claim(db, "died", -1);
  assert.deepEqual(await reapDead(db, "w2"), [id]);
});

test("a database blip while recording the success of the last attempt: the render ends succeeded, not dead", async () => {
  const id = await lastAttemptRendered(false);
  const { publisher } = recordingPublisher();
  const flaky = droppingDb(db, (text) => /set status = 'succeeded'/.test(text), { times: 5 }); // retryStatement's tries: the worker gives up on complete()
  await withWorker({ db: flaky.db, publisher }, async () => {
    const end = await renderEnded(db, id);
    assert.equal(end.status, "succeeded", `a published render ends succeeded (was ${end.status}: ${JSON.stringify(end.last_error)})`);
    assert.equal((end.result?.video as { url?: string })?.url, `https://signed.example/renders/o/${id}.mp4`);
  });
});
