/**
 * The sweep for compute jobs that renders which are over left running reads, on PGlite and on
 * a real Postgres: only steps whose job may still run (`mayStillRun`) of renders that ended at
 * least a while ago, least recently touched first, through the partial index (a pass must not
 * read every step ever written); a touched step goes to the back; one given up on leaves.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Db } from "../db/db.ts";
import { migrate } from "../db/migrate.ts";
import { cancel, enqueue, giveUpOrphan, orphanedSteps, saveStep, touchOrphan } from "./index.ts";
import { dbEngines, indexesUsed } from "../../test/support/dbEngines.ts";
import { SMALL_REQUEST } from "../../test/support/migratedPglite.ts";


const engines = dbEngines("cc_orphans");

const HOUR = 3600_000;

for (const [engine, open] of engines) {
  describe(`orphaned compute jobs on ${engine}`, () => {
    let db: Db;
    let done: () => Promise<void>;
    before(async () => {
      ({ db, done } = await open());
      await migrate(db);
    });
    after(() => done());

    const render = async () => (await enqueue(db, { owner: "o", request: SMALL_REQUEST })).row.id;
    const running = (id: string, step: "images" | "align" | "render", job: string, extra = {}) =>
      saveStep(db, id, step, { status: "running", backend: "inhouse", compute_job_id: job, started_at: new Date(), ...extra });
    const read = async (opts: Partial<{ endedForMs: number; maxAgeMs: number; limit: number }> = {}) =>
      (await orphanedSteps(db, { limit: 100, endedForMs: 0, maxAgeMs: HOUR, ...opts })).map((s) => `${s.render_id}:${s.step}:${s.expired}`);

    test("only steps whose job may still run, of renders that are over, least recently touched first", async () => {
      const live = await render();
      await running(live, "images", "j-live"); // its worker polls it
      const over = await render();
      await running(over, "images", "j1");
      await saveStep(db, over, "align", { status: "failed", backend: "inhouse", compute_job_id: "j2", error: { code: "compute_unreachable", message: "x", retryable: true } });
      await saveStep(db, over, "render", { status: "failed", backend: "inhouse", compute_job_id: "j3", error: { code: "timeout", message: "x", retryable: false } });
      await saveStep(db, over, "publish", { status: "running" });
      await cancel(db, over, "o");
      assert.deepEqual(await read(), [`${over}:images:false`, `${over}:align:false`]);
      assert.deepEqual(await read({ endedForMs: HOUR }), [], "just ended: its own cancel has its go first");
      assert.deepEqual(await read({ limit: 1 }), [`${over}:images:false`]);
      await touchOrphan(db, { render_id: over, step: "images", compute_job_id: "j1" });
      assert.deepEqual(await read(), [`${over}:align:false`, `${over}:images:false`], "a step whose cancel failed goes to the back");
      await saveStep(db, over, "images", { status: "cancelled" }); // its cancel went through
      assert.deepEqual(await read(), [`${over}:align:false`]);
      await db.query(`update render_steps set status = 'cancelled' where render_id = $1`, [over]);
    });

    test("a step started longer ago than any job runs is expired, and given up on it leaves the sweep", async () => {
      const id = await render();
      await running(id, "render", "j-old", { started_at: new Date(Date.now() - 2 * HOUR) });
      await cancel(db, id, "o");
      assert.deepEqual(await read(), [`${id}:render:true`]);
      assert.equal(await giveUpOrphan(db, { render_id: id, step: "render", compute_job_id: "another" }), false, "not a step that moved on");
      assert.equal(await giveUpOrphan(db, { render_id: id, step: "render", compute_job_id: "j-old" }), true);
      assert.deepEqual(await read(), []);
    });

    test("the sweep reads the partial index of steps that may still run", async () => {
      const names = await indexesUsed(db, (stand) => orphanedSteps(stand, { limit: 100, endedForMs: 30_000, maxAgeMs: HOUR })); // what the sweep sends, planned
      assert.ok(names.includes("render_steps_may_run_idx"), `plan used ${JSON.stringify(names)}`);
    });
  });
}
