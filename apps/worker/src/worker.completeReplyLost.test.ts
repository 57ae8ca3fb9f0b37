/**
 * The statement recording a render's success commits, but its reply is lost (the connection
 * drops after the commit): retried, it finds nothing left to update. The render did succeed,
 * by this worker: it is counted and logged succeeded, not `lease_lost` (a render the owner
 * sees succeeded was counted as lost, and no render_succeeded line was logged for it).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Db } from "./db/db.ts";
import { getRender } from "./queue/index.ts";
import type { Publisher } from "./storage/publisher.ts";
import { droppingDb } from "../test/support/droppingDb.ts";
import { openMigratedPglite } from "../test/support/migratedPglite.ts";
import { recordingPublisher, renderedUpToPublish } from "../test/support/publishing.ts";
import { rendersCounted, withWorker } from "../test/support/testWorker.ts";
import { until } from "../test/support/until.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

test("a success whose commit's reply is lost is counted and logged succeeded, not lease_lost", async () => {
  const id = await renderedUpToPublish(db, { maxAttempts: 3 });
  const publisher: Publisher = {
    ...recordingPublisher().publisher,
    async remove() {
      throw new Error("a succeeded render's video must not be removed");
    },
  };
  const flaky = droppingDb(db, (text) => /set status = 'succeeded'/.test(text), { times: 1, afterCommit: true });
  await withWorker({ db: flaky.db, publisher }, async ({ metrics, lines }) => {
    await until("the render succeeded", async () => (await getRender(db, id))?.status === "succeeded", 20_000, 20);
    const counted = await rendersCounted(metrics);
    assert.equal(flaky.dropped(), 1, "the commit's reply was lost once");
    assert.deepEqual(counted, [["succeeded", 1]]);
    assert.ok(lines.some((l) => l.event === "render_succeeded" && l.render_id === id), "render_succeeded logged");
    assert.ok(!lines.some((l) => l.event === "render_aborted" && l.render_id === id), `not logged aborted: ${JSON.stringify(lines.filter((l) => l.event === "render_aborted"))}`);
  });
});
