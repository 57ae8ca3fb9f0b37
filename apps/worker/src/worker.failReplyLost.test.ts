/**
 * The statement recording a failed attempt commits, but its reply is lost: retried, it finds
 * the render no longer running. The render did end (failed for good here), by this attempt:
 * it is counted and logged so, and handled as a render over for good (its compute jobs
 * cancelled), not counted `lost` with status null and its leftover jobs left running.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Db } from "./db/db.ts";
import { enqueue, getRender } from "./queue/index.ts";
import type { Publisher } from "./storage/publisher.ts";
import { droppingDb } from "../test/support/droppingDb.ts";
import { openMigratedPglite } from "../test/support/migratedPglite.ts";
import { ScriptedCompute } from "../test/support/scriptedCompute.ts";
import { rendersCounted, withWorker } from "../test/support/testWorker.ts";
import { until } from "../test/support/until.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

test("a failure whose commit's reply is lost is counted failed, not lost", async () => {
  const compute = new ScriptedCompute("inhouse", () => ({ status: "failed", error: { code: "audio_silent", message: "no speech", retryable: false } }));
  const request = { narration_audio: `artifacts/sha256/aa/${"a".repeat(64)}.wav`, scenes: [{ narration: "hello world", image: `artifacts/sha256/bb/${"b".repeat(64)}.png` }] };
  const { row } = await enqueue(db, { owner: "o", request, maxAttempts: 3 });
  const flaky = droppingDb(db, (text) => /then 'dead'/.test(text), { times: 1, afterCommit: true });
  const publisher = { async remove() {} } as unknown as Publisher;
  await withWorker({ db: flaky.db, publisher, compute }, async ({ metrics, lines }) => {
    await until("the render failed", async () => (await getRender(db, row.id))?.status === "failed", 20_000, 20);
    const counted = await rendersCounted(metrics);
    assert.equal(flaky.dropped(), 1, "the commit's reply was lost once");
    assert.deepEqual(counted, [["failed", 1]]);
    const failed = lines.find((l) => l.event === "render_failed");
    assert.equal(failed?.status, "failed", JSON.stringify(failed));
  });
});
