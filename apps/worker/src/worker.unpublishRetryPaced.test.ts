/**
 * Failed removals of what ended renders published are tried again every unpublishRetryMs.
 * They were all tried at once, every interval: during a storage or database outage, up to
 * 10,000 pending renders cost tens of thousands of queries and removals every 30 s, and a surge
 * when it ended. Now one pass works through them in order and stops at the first failure,
 * keeping it and the rest for the next: an outage costs one failed try per interval. The failed
 * one goes to the back, so that one removal storage always refuses does not hold up the others
 * (worker.unpublishDurable.test.ts): during an outage the passes take them in turn.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Db } from "./db/db.ts";
import { enqueue, saveStep } from "./queue/index.ts";
import { openMigratedPglite, SMALL_REQUEST } from "../test/support/migratedPglite.ts";
import { recordingPublisher, VIDEO } from "../test/support/publishing.ts";
import { withWorker } from "../test/support/testWorker.ts";
import { until } from "../test/support/until.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

const RETRYING = { idlePollMs: 10, unpublishRetryMs: 20 };

/** `n` cancelled renders, each with its video published; a publisher whose removals fail while `storage.down`. */
async function cancelledPublished(n: number) {
  const { stored, publisher } = recordingPublisher();
  const storage = { down: true, tries: [] as string[] };
  const remove = publisher.remove.bind(publisher);
  publisher.remove = async (keys) => {
    storage.tries.push(keys[0]!.split("/").pop()!.split(".")[0]!); // renders/o/<id>.<ext>: the render's id
    if (storage.down) throw new Error("storage unavailable");
    await remove(keys);
  };
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 1 });
    await saveStep(db, row.id, "publish", { status: "failed", step_attempt: 1 });
    await publisher.publish(VIDEO, "o", row.id);
    await db.query(`update render_jobs set status = 'cancelled' where id = $1`, [row.id]);
    ids.push(row.id);
  }
  return { stored, publisher, storage, ids };
}

test("during a storage outage each retry pass makes one try, the pending ones in turn; once it is back, all are removed", async () => {
  const { stored, publisher, storage, ids } = await cancelledPublished(3);
  await withWorker({ db, publisher, options: RETRYING }, async ({ worker }) => {
    for (const id of ids) worker.unpublishLater(id);
    await until("three passes during the outage", async () => storage.tries.length >= 3, 10_000, 5);
    storage.down = false;
    await until("every video removed", async () => stored.size === 0, 10_000, 10);
  });
  assert.deepEqual(storage.tries.slice(0, 3), ids, `one try per pass during the outage, oldest first, in turn (tried ${JSON.stringify(storage.tries)})`);
  // Once storage is back, each is removed: its last try is the one that went through.
  assert.deepEqual(new Set(storage.tries.slice(-3)), new Set(ids));
});

test("removals still failing at shutdown are all logged pending", async () => {
  const { publisher, storage, ids } = await cancelledPublished(3);
  let logged: Record<string, unknown>[] = [];
  await withWorker({ db, publisher, options: RETRYING }, async ({ worker, lines }) => {
    for (const id of ids) worker.unpublishLater(id);
    await until("two passes during the outage", async () => storage.tries.length >= 2, 10_000, 5);
    logged = lines;
  });
  assert.deepEqual(new Set(logged.find((l) => l.event === "unpublish_pending")?.render_ids as string[]), new Set(ids));
  assert.deepEqual(storage.tries.slice(0, 2), ids.slice(0, 2), `one try per pass, in turn (tried ${JSON.stringify(storage.tries)})`);
});
