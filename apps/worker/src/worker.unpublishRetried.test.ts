/**
 * A render that ended without a video while the database was unreachable for longer than
 * `unpublishEnded`'s read retries: the removal of what it published failed (logged
 * `unpublish_failed`) and was never tried again, so its MP4 stayed under the owner's name for
 * good. The worker tries such a removal again later, until it goes through; the API's DELETE
 * hands its failures to the worker the same way.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Db } from "./db/db.ts";
import { claim, enqueue, getRender, saveStep } from "./queue/index.ts";
import { droppingDb } from "../test/support/droppingDb.ts";
import { openMigratedPglite, SMALL_REQUEST } from "../test/support/migratedPglite.ts";
import { recordingPublisher, VIDEO } from "../test/support/publishing.ts";
import { withWorker } from "../test/support/testWorker.ts";
import { until } from "../test/support/until.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

const RETRYING = { idlePollMs: 10, unpublishRetryMs: 20 };

test("a dead render whose unpublish could not read the database has its video removed once it can", async () => {
  const { stored, publisher } = recordingPublisher();
  const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 1 });
  await db.query(`update render_jobs set status = 'cancelled' where id <> $1 and status in ('queued', 'running')`, [row.id]);
  await saveStep(db, row.id, "render", { status: "succeeded", step_attempt: 1, output: { video: VIDEO, durationMs: 1000 } });
  await saveStep(db, row.id, "publish", { status: "running", step_attempt: 1 });
  await publisher.publish(VIDEO, "o", row.id);
  assert.equal((await claim(db, "died", -1))?.id, row.id); // its worker died mid-copy, on the last attempt
  // Reads of this render fail one more time than retryStatement's tries: the database unreachable past unpublishEnded's retries.
  const flaky = droppingDb(db, (text, params) => /^select \* from public\.render_jobs where id = \$1$/.test(text.trim()) && params?.[0] === row.id, { times: 6 });
  await withWorker({ db: flaky.db, publisher, options: RETRYING }, async () => {
    await until("the render reaped dead", async () => (await getRender(db, row.id))?.status === "dead", 10_000, 10);
    await until("the published video removed", async () => stored.size === 0, 10_000, 10)
      .catch(() => assert.fail(`a dead render keeps ${JSON.stringify([...stored])} (reads failed so far: ${flaky.dropped()} of 6)`));
    assert.equal(flaky.dropped(), 6, "the first try could not read the render");
  });
});

test("a removal handed on by the API is tried again by the worker", async () => {
  const { stored, publisher } = recordingPublisher();
  const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 3 });
  await saveStep(db, row.id, "publish", { status: "failed", step_attempt: 1 });
  await publisher.publish(VIDEO, "o", row.id);
  await db.query(`update render_jobs set status = 'cancelled' where id = $1`, [row.id]);
  await withWorker({ db, publisher, options: RETRYING }, async ({ worker }) => {
    worker.unpublishLater(row.id);
    await until("the published video removed", async () => stored.size === 0, 10_000, 10);
  });
});
