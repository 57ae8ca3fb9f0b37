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
import { openPglite } from "../db/pglite.ts";
import { openPostgres } from "../db/postgres.ts";
import { cancel, enqueue, giveUpOrphan, orphanedSteps, saveStep, touchOrphan } from "./index.ts";
import { createTestDatabase } from "../../test/support/postgres.ts";
import { SMALL_REQUEST } from "../../test/support/migratedPglite.ts";

interface PlanNode { "Node Type": string; "Index Name"?: string; Plans?: PlanNode[] }
const nodes = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(nodes)];

const engines: Array<[string, () => Promise<{ db: Db; done: () => Promise<void> }>]> = [
  ["pglite", async () => {
    const db = await openPglite();
    return { db, done: () => db.close() };
  }],
  ["postgres", async () => {
    const t = createTestDatabase("cc_orphans");
    const db = openPostgres(t.url);
    return { db, done: async () => { await db.close(); t.drop(); } };
  }],
];

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
      let sent = { sql: "", params: [] as unknown[] }; // what the sweep sends, not run
      await orphanedSteps({ query: async (sql: string, params?: unknown[]) => ((sent = { sql, params: params ?? [] }), []) } as Pick<Db, "query">, { limit: 100, endedForMs: 30_000, maxAgeMs: HOUR });
      const names = await db.transaction(async (tx) => {
        // Sequential scans and sorts priced out: only an index that fits can win.
        await tx.exec("set local enable_seqscan = off; set local enable_sort = off; set local enable_bitmapscan = off");
        const [row] = await tx.query<{ "QUERY PLAN": unknown }>(`explain (format json) ${sent.sql}`, sent.params);
        const json = row!["QUERY PLAN"];
        return nodes((typeof json === "string" ? JSON.parse(json) : json)[0].Plan as PlanNode).map((n) => n["Index Name"]).filter(Boolean);
      });
      assert.ok(names.includes("render_steps_may_run_idx"), `plan used ${JSON.stringify(names)}`);
    });
  });
}
