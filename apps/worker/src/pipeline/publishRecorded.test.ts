/**
 * Once the video is copied and its publish step recorded `succeeded`, a database blip on the
 * progress write that follows is not a failed publish: the step stays `succeeded` (its output
 * reused by the next attempt), so on the last attempt the render is not declared dead with its
 * MP4 published. The catch meant for the publisher's errors rewrote the step `failed`.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Db } from "../db/db.ts";
import { listSteps } from "../queue/index.ts";
import { droppingDb } from "../../test/support/droppingDb.ts";
import { openMigratedPglite } from "../../test/support/migratedPglite.ts";
import { recordingPublisher, renderedUpToPublish } from "../../test/support/publishing.ts";
import { renderEnded, withWorker } from "../../test/support/testWorker.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

test("a database blip on the progress write after the publish, on the last attempt: the render still ends succeeded", async () => {
  const id = await renderedUpToPublish(db, { maxAttempts: 1 });
  const { publisher } = recordingPublisher();
  const flaky = droppingDb(db, (text, params) => /set step = \$3, progress/.test(text) && params?.[2] === "publish" && String(params?.[3]).includes('"succeeded"'), { times: 1 });
  await withWorker({ db: flaky.db, publisher }, async () => {
    const end = await renderEnded(db, id);
    const publish = (await listSteps(db, id)).find((s) => s.step === "publish");
    assert.equal(end.status, "succeeded", `a published render ends succeeded (was ${end.status}: ${JSON.stringify(end.last_error)}; publish step ${publish?.status})`);
    assert.equal(flaky.dropped(), 1, "the blip happened");
  });
});
