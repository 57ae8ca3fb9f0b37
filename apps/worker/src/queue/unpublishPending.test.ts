/**
 * Pending removals of what ended renders published live in the database (migration
 * 20261123000700), on PGlite and on a real Postgres: the database marks a render that ends
 * without a video with a publish step, and again on a publish-step write after it ended; a
 * removal clears only the mark it read; the sweep reads the pending table's index; a mark never
 * touches the render's row (no updated_at move, no Realtime event for its owner).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Db } from "../db/db.ts";
import { migrate } from "../db/migrate.ts";
import { cancel, claim, clearUnpublishMark, enqueue, fail, markUnpublishPending, pendingUnpublishes, saveStep, unpublishMark } from "./index.ts";
import { dbEngines, indexesUsed } from "../../test/support/dbEngines.ts";
import { SMALL_REQUEST } from "../../test/support/migratedPglite.ts";


const engines = dbEngines("cc_unpublish");

for (const [engine, open] of engines) {
  describe(`pending removals on ${engine}`, () => {
    let db: Db;
    let done: () => Promise<void>;
    before(async () => {
      ({ db, done } = await open());
      await migrate(db);
    });
    after(() => done());

    const render = async (maxAttempts = 3) => (await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts })).row.id;

    test("a render that ends without a video is marked only if it has a publish step", async () => {
      const published = await render();
      const unpublished = await render();
      await saveStep(db, published, "publish", { status: "running" });
      assert.equal(await unpublishMark(db, published), null, "running: nothing to remove");
      await cancel(db, published, "o");
      await cancel(db, unpublished, "o");
      assert.notEqual(await unpublishMark(db, published), null);
      assert.equal(await unpublishMark(db, unpublished), null, "nothing was published: storage is never asked");
      const failed = await render(1);
      await db.query(`update render_jobs set status = 'cancelled' where status in ('queued', 'running') and id <> $1`, [failed]);
      assert.equal((await claim(db, "w", 30))?.id, failed);
      await saveStep(db, failed, "publish", { status: "failed" });
      assert.equal(await unpublishMark(db, failed), null);
      assert.equal(await fail(db, failed, "w", { code: "x", message: "x", retryable: false }, 0), "failed");
      assert.notEqual(await unpublishMark(db, failed), null, "failed by fail() too");
    });

    test("a removal clears only the mark it read: a publish-step write meanwhile marks it again", async () => {
      const id = await render();
      await saveStep(db, id, "publish", { status: "running" });
      await cancel(db, id, "o");
      const read = (await unpublishMark(db, id))!;
      await saveStep(db, id, "publish", { status: "succeeded" }); // a stale attempt's late copy, recorded
      const again = await unpublishMark(db, id);
      assert.notEqual(again, read);
      assert.equal(await clearUnpublishMark(db, id, read), false, "the late copy stays pending");
      assert.equal(await clearUnpublishMark(db, id, again!), true);
      await saveStep(db, id, "publish", { status: "cancelled" }); // what the worker writes after its removal
      assert.equal(await unpublishMark(db, id), null, "not marked again by the worker's own cancelled mark");
      assert.equal(await markUnpublishPending(db, id), true, "a failed removal handed over marks it again");
      assert.notEqual(await unpublishMark(db, id), null);
      const running = await render();
      await saveStep(db, running, "publish", { status: "running" });
      assert.equal(await markUnpublishPending(db, running), false, "a render still running is not marked");
    });

    test("the sweep lists the longest pending first, read through the index", async () => {
      await db.query(`delete from render_unpublish_pending`);
      const ids = [await render(), await render(), await render()];
      for (const id of ids) await saveStep(db, id, "publish", { status: "running" });
      for (const id of ids) await cancel(db, id, "o");
      assert.deepEqual(await pendingUnpublishes(db, 10), ids);
      assert.deepEqual(await pendingUnpublishes(db, 2), ids.slice(0, 2));
      const names = await indexesUsed(db, (stand) => pendingUnpublishes(stand, 100)); // what the sweep sends, planned
      assert.deepEqual(names, ["render_unpublish_pending_since_idx"]);
    });

    test("marking and clearing leave the ended render's row alone: its updated_at does not move", async () => {
      const id = await render();
      await saveStep(db, id, "publish", { status: "running" });
      await cancel(db, id, "o");
      const row = async () => (await db.query<{ u: string }>(`select updated_at::text as u from render_jobs where id = $1`, [id]))[0]!.u;
      const ended = await row();
      assert.equal(await markUnpublishPending(db, id), true);
      await saveStep(db, id, "publish", { status: "succeeded" }); // a late copy: marked again
      assert.equal(await clearUnpublishMark(db, id, (await unpublishMark(db, id))!), true);
      assert.equal(await row(), ended, "a mark moved the render's updated_at (and sent its owner a Realtime UPDATE)");
    });
  });
}
