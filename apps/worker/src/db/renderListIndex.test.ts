/**
 * The owner list (GET /v1/renders, and a Supabase client listing its own rows under RLS) is
 * served in order by render_jobs_owner_list_idx, on PGlite and on a real Postgres: an index
 * scan that stops after the page, never a sort of all of an owner's renders.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { listRenders } from "../queue/index.ts";
import type { Db } from "./db.ts";
import { migrate } from "./migrate.ts";
import { dbEngines, plan, sentSql } from "../../test/support/dbEngines.ts";

const ALICE = "11111111-1111-4111-8111-111111111111";
const BOB = "22222222-2222-4222-8222-222222222222";


const listSql = (args: Parameters<typeof listRenders>[1]) => sentSql((db) => listRenders(db, args));

const engines = dbEngines("cc_listidx");

for (const [engine, open] of engines) {
  describe(`the owner list index on ${engine}`, () => {
    let db: Db;
    let done: () => Promise<void>;
    before(async () => {
      ({ db, done } = await open());
      await migrate(db);
      await db.query(
        `insert into render_jobs (owner, request, created_at)
         select o, '{}', timestamptz '2026-01-01' + (g % 7) * interval '1 microsecond'
           from unnest(array[$1, $2]) o, generate_series(1, 50) g`,
        [ALICE, BOB],
      );
      await db.exec("analyze render_jobs");
    });
    after(async () => done());

    test("it replaces render_jobs_owner_idx", async () => {
      const names = (await db.query<{ indexname: string }>(`select indexname from pg_indexes where tablename = 'render_jobs' order by 1`)).map((r) => r.indexname);
      assert.ok(names.includes("render_jobs_owner_list_idx"), names.join());
      assert.ok(!names.includes("render_jobs_owner_idx"), names.join());
    });

    test("the worker's page query (first page, next page, status filter) is an ordered index scan", async () => {
      const cases = [
        await listSql({ owner: ALICE, limit: 21 }),
        await listSql({ owner: ALICE, limit: 21, after: { createdAt: "2026-01-01T00:00:00.000003Z", id: "88888888-8888-4888-8888-888888888888" } }),
        await listSql({ owner: ALICE, limit: 21, statuses: ["queued", "failed"] }),
      ];
      for (const { sql, params } of cases) {
        const ns = await db.transaction((tx) => plan(tx, sql, params));
        const scan = ns.find((n) => n["Index Name"] === "render_jobs_owner_list_idx");
        assert.ok(scan, JSON.stringify(ns));
        assert.ok(!ns.some((n) => n["Node Type"] === "Sort"), "no sort");
        assert.match(scan["Index Cond"] ?? "", /owner/, "the owner is an index condition, not a filter");
        if (params.length > 3) assert.match(scan["Index Cond"] ?? "", /ROW\(created_at, id\) </, "the position too");
      }
    });

    test("a Supabase client listing its own renders under RLS gets only its rows, by the same index", async () => {
      const asAlice = <T>(fn: (tx: Pick<Db, "query" | "exec">) => Promise<T>) =>
        db.transaction(async (tx) => {
          await tx.exec("set local role authenticated");
          await tx.query(`select set_config('request.jwt.claims', $1, true)`, [JSON.stringify({ sub: ALICE, role: "authenticated" })]);
          return fn(tx);
        });
      // What PostgREST runs for .select().order('created_at', desc).order('id', desc).lt(...).limit(10): RLS adds the owner.
      const sql = `select id, owner from public.render_jobs where (created_at, id) < ($1::timestamptz, $2::uuid) order by created_at desc, id desc limit 10`;
      const params = ["2026-01-01T00:00:00.000005Z", "ffffffff-ffff-4fff-bfff-ffffffffffff"];
      const rows = await asAlice((tx) => tx.query<{ owner: string }>(sql, params));
      assert.equal(rows.length, 10);
      assert.ok(rows.every((r) => r.owner === ALICE));
      const ns = await asAlice((tx) => plan(tx, sql, params));
      assert.ok(ns.some((n) => n["Index Name"] === "render_jobs_owner_list_idx"), JSON.stringify(ns));
      assert.ok(!ns.some((n) => n["Node Type"] === "Sort"), "no sort");
    });
  });
}
