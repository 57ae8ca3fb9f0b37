/**
 * The owner cancels a render while its video is being published: the render is cancelled (the
 * owner asked first), so the copy made meanwhile must not stay in the renders bucket under the
 * owner's name, and the worker must say what happened to the attempt. It logged nothing and
 * counted nothing (complete() found the render no longer running), and the MP4 stayed.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Db } from "./db/db.ts";
import { cancel, getRender, listSteps } from "./queue/index.ts";
import { openMigratedPglite } from "../test/support/migratedPglite.ts";
import { recordingPublisher, renderedUpToPublish } from "../test/support/publishing.ts";
import { withWorker } from "../test/support/testWorker.ts";
import { until } from "../test/support/until.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

test("a cancel that lands during the publish removes what was published and is logged and counted as cancelled", async () => {
  const id = await renderedUpToPublish(db, { maxAttempts: 3, captions: true });
  let publishing: (() => void) | null = null;
  const { stored, publisher } = recordingPublisher({
    beforeCopy: async (ext) => {
      if (ext === "mp4") await new Promise<void>((r) => (publishing = r)); // the copy takes a while
    },
  });
  await withWorker({ db, publisher, options: { heartbeatMs: 50 } }, async ({ lines, metrics }) => {
    await until("the publish under way", async () => publishing !== null, 10_000, 10);
    assert.equal((await cancel(db, id, "o"))?.status, "cancelled");
    publishing!();
    await until("the attempt accounted for", async () => lines.some((l) => l.event === "render_aborted" && l.render_id === id), 5_000, 10)
      .catch(() => assert.fail(`no line says what happened to the attempt: ${JSON.stringify(lines.map((l) => l.event))}`));
    assert.equal((await getRender(db, id))?.status, "cancelled");
    assert.deepEqual([...stored], [], "nothing published for a cancelled render stays in storage");
    assert.equal((await listSteps(db, id)).find((s) => s.step === "publish")?.status, "cancelled");
    const counted = (await metrics.renders.get()).values.find((v) => v.labels.status === "cancelled")?.value;
    assert.equal(counted, 1, "counted as cancelled");
  });
});
