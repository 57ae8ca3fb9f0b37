/**
 * What ended renders published is removed even across a crash or a redeploy. A removal that
 * failed (storage down) was retried from the failing worker's memory only: a worker that
 * crashed, or was redeployed (Railway redeploys on every push), left those files in storage for
 * good. Pending removals are now kept in the job database (render_unpublish_pending,
 * marked by the database whatever ended the render) and any worker's periodic sweep does them.
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

/** A cancelled render with its video published (its publish step row written before the copy, as publishStep does). */
async function cancelledPublished(publisher: ReturnType<typeof recordingPublisher>["publisher"]): Promise<string> {
  const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 1 });
  await saveStep(db, row.id, "publish", { status: "running", step_attempt: 1 });
  await publisher.publish(VIDEO, "o", row.id);
  await db.query(`update render_jobs set status = 'cancelled', finished_at = now() where id = $1`, [row.id]);
  return row.id;
}

async function marked(id: string): Promise<boolean> {
  return (await db.query<{ m: boolean }>(`select exists (select 1 from render_unpublish_pending where render_id = $1) as m`, [id]))[0]!.m;
}

test("a render that ended while its worker crashed has its video removed by a worker started later", async () => {
  const { stored, publisher } = recordingPublisher();
  const id = await cancelledPublished(publisher); // no worker was ever told: the one running it died
  await withWorker({ db, publisher, options: RETRYING, workerId: "started-after" }, async () => {
    await until("the published video removed", async () => stored.size === 0, 10_000, 10)
      .catch(() => assert.fail(`an ended render keeps ${JSON.stringify([...stored])} for good`));
  });
  assert.equal(await marked(id), false, "nothing left pending once removed");
});

test("a removal still failing when its worker stops is done by the next worker", async () => {
  const { stored, publisher } = recordingPublisher();
  const id = await cancelledPublished(publisher);
  // A sweep already removed it before a stale attempt's copy landed (the copy above): only that
  // attempt's own removal, which failed, knows about the file.
  await db.query(`delete from render_unpublish_pending where render_id = $1`, [id]);
  const remove = publisher.remove.bind(publisher);
  let down = true;
  let tries = 0;
  publisher.remove = async (keys) => {
    tries++;
    if (down) throw new Error("storage unavailable");
    await remove(keys);
  };
  await withWorker({ db, publisher, options: RETRYING, workerId: "redeployed" }, async ({ worker }) => {
    worker.unpublishLater(id);
    await until("a failed try", async () => tries >= 1, 10_000, 5);
  });
  assert.equal(stored.size, 1);
  down = false;
  await withWorker({ db, publisher, options: RETRYING, workerId: "new-deploy" }, async () => {
    await until("the published video removed", async () => stored.size === 0, 10_000, 10)
      .catch(() => assert.fail(`the removal pending at the redeploy was lost: ${JSON.stringify([...stored])} stays`));
  });
  assert.equal(await marked(id), false);
});

test("a publish-step write while a sweep removes keeps the render pending: the late copy is removed too", async () => {
  const { stored, publisher } = recordingPublisher();
  const id = await cancelledPublished(publisher);
  const remove = publisher.remove.bind(publisher);
  let first = true;
  publisher.remove = async (keys) => {
    await remove(keys);
    if (first) {
      // A stale attempt, still holding the cancelled render's lease: its copy lands just after
      // this removal, and it records its publish step failed (its caption copy refused).
      first = false;
      await publisher.publish(VIDEO, "o", id);
      await saveStep(db, id, "publish", { status: "failed", error: { code: "publish_failed", message: "refused", retryable: true } });
    }
  };
  await withWorker({ db, publisher, options: RETRYING }, async () => {
    await until("the late copy removed too", async () => !first && stored.size === 0 && !(await marked(id)), 10_000, 10)
      .catch(() => assert.fail(`the late copy stays: ${JSON.stringify([...stored])}`));
  });
});

test("two workers sweeping at once remove every pending render and leave none pending", async () => {
  const { stored, publisher } = recordingPublisher();
  const ids: string[] = [];
  for (let i = 0; i < 12; i++) ids.push(await cancelledPublished(publisher));
  const removals: string[] = [];
  const remove = publisher.remove.bind(publisher);
  publisher.remove = async (keys) => {
    removals.push(keys[0]!);
    await remove(keys); // removing keys already gone is fine (storage answers the same)
  };
  await withWorker({ db, publisher, options: RETRYING, workerId: "a" }, async () => {
    await withWorker({ db, publisher, options: RETRYING, workerId: "b" }, async () => {
      await until("every video removed and none pending", async () =>
        stored.size === 0 && (await db.query(`select 1 from render_unpublish_pending`)).length === 0, 10_000, 10);
    });
  });
  for (const id of ids) assert.ok(removals.some((k) => k.includes(id)), `${id} removed`);
});

test("once removed, a render is not swept again", async () => {
  const { stored, publisher } = recordingPublisher();
  const done = await cancelledPublished(publisher);
  await withWorker({ db, publisher, options: RETRYING }, async () => {
    await until("removed", async () => stored.size === 0 && !(await marked(done)), 10_000, 10);
  });
  const removals: string[] = [];
  const remove = publisher.remove.bind(publisher);
  publisher.remove = async (keys) => {
    removals.push(keys[0]!);
    await remove(keys);
  };
  const later = await cancelledPublished(publisher); // swept by the same pass that would find `done` if it were still pending
  await withWorker({ db, publisher, options: RETRYING, workerId: "w2" }, async () => {
    await until("the later one removed", async () => stored.size === 0, 10_000, 10);
  });
  assert.ok(removals.every((k) => k.includes(later)), `only the pending render was removed (${JSON.stringify(removals)})`);
});

test("a removal storage always refuses goes to the back of the queue: the others behind it are still done", async () => {
  const { stored, publisher } = recordingPublisher();
  const stuck = await cancelledPublished(publisher); // pending first: the oldest
  const others = [await cancelledPublished(publisher), await cancelledPublished(publisher)];
  const remove = publisher.remove.bind(publisher);
  publisher.remove = async (keys) => {
    if (keys.some((k) => k.includes(stuck))) throw new Error("refused: 400 InvalidKey");
    await remove(keys);
  };
  await withWorker({ db, publisher, options: RETRYING, workerId: "head-of-line" }, async () => {
    await until("the removals behind the refused one done", async () => !(await marked(others[0]!)) && !(await marked(others[1]!)), 10_000, 10)
      .catch(() => assert.fail("one removal storage refuses held up every other for good"));
  });
  assert.equal(await marked(stuck), true, "the refused one stays pending, for a later sweep");
  assert.deepEqual([...stored].filter((k) => !k.includes(stuck)), []);
  await db.query(`delete from render_unpublish_pending where render_id = $1`, [stuck]); // leave the shared db clean
});
