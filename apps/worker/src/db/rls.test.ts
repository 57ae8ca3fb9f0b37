import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Db } from "./db.ts";
import { migrate } from "./migrate.ts";
import { dbEngines } from "../../test/support/dbEngines.ts";

const ALICE = "11111111-1111-4111-8111-111111111111";
const BOB = "22222222-2222-4222-8222-222222222222";

/** Run `sql` as a PostgREST request would: role authenticated, request.jwt.claims set. */
async function asUser<T>(db: Db, sub: string | null, sql: string, params: unknown[] = []): Promise<T[]> {
  return db.transaction(async (tx) => {
    await tx.exec(`set local role ${sub ? "authenticated" : "anon"}`);
    await tx.query(`select set_config('request.jwt.claims', $1, true)`, [
      JSON.stringify(sub ? { sub, role: "authenticated" } : { role: "anon" }),
    ]);
    return tx.query<T>(sql, params);
  });
}

const engines = dbEngines("cc_rls");

for (const [name, open] of engines) {
  describe(`RLS on ${name}`, () => {
    let db: Db;
    let done: () => Promise<void>;
    before(async () => {
      ({ db, done } = await open());
      // What every Supabase project has before our migrations run: default privileges that
      // grant anon and authenticated ALL on new tables in public.
      await db.exec(`
        do $$ begin
          -- cluster-wide roles: another test file may create them at the same moment
          begin create role anon nologin noinherit; exception when duplicate_object or unique_violation then null; end;
          begin create role authenticated nologin noinherit; exception when duplicate_object or unique_violation then null; end;
          begin create role service_role nologin noinherit bypassrls; exception when duplicate_object or unique_violation then null; end;
        end $$;
        alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
        alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
        alter default privileges in schema public grant all on functions to anon, authenticated, service_role;`);
      await migrate(db);
      await db.query(`insert into render_jobs (owner, request) values ($1, '{}'), ($2, '{}'), ($2, '{}')`, [ALICE, BOB]);
      await db.query(
        `insert into storage.objects (bucket_id, name) values ('renders', $1 || '/a.mp4'), ('renders', $2 || '/b.mp4')`,
        [ALICE, BOB],
      );
    });
    after(async () => done());

    test("a client reads only its own jobs (request.jwt.claims sub)", async () => {
      const alice = await asUser<{ owner: string }>(db, ALICE, `select owner from render_jobs`);
      assert.deepEqual(alice.map((r) => r.owner), [ALICE]);
      const bob = await asUser<{ owner: string }>(db, BOB, `select owner from render_jobs`);
      assert.equal(bob.length, 2);
      assert.ok(bob.every((r) => r.owner === BOB));
    });

    test("anon reads nothing", async () => {
      await assert.rejects(asUser(db, null, `select owner from render_jobs`), /permission denied/);
    });

    test("a client can insert a render only for itself", async () => {
      const ok = await asUser<{ owner: string }>(db, ALICE, `insert into render_jobs (owner, request) values ($1, '{}') returning owner`, [ALICE]);
      assert.equal(ok[0]?.owner, ALICE);
      await assert.rejects(
        asUser(db, ALICE, `insert into render_jobs (owner, request) values ($1, '{}')`, [BOB]),
        /row-level security/,
      );
    });

    test("a client cannot jump the queue: no run_at, result or max_attempts of its own (Supabase's default grants taken back)", async () => {
      await assert.rejects(
        asUser(db, ALICE, `insert into render_jobs (owner, request, run_at) values ($1, '{}', '1970-01-01')`, [ALICE]),
        /permission denied/,
      );
      await assert.rejects(
        asUser(db, ALICE, `insert into render_jobs (owner, request, max_attempts) values ($1, '{}', 100)`, [ALICE]),
        /permission denied/,
      );
      await assert.rejects(asUser(db, ALICE, `select * from route_decisions`), /permission denied/);
      await assert.rejects(asUser(db, ALICE, `delete from render_jobs`), /permission denied/);
      const grants = await db.query<{ grantee: string; privilege_type: string; table_name: string }>(
        `select grantee, privilege_type, table_name from information_schema.role_table_grants
          where table_schema = 'public' and grantee in ('anon', 'authenticated') order by 1, 2, 3`,
      );
      assert.deepEqual(grants.map((g) => `${g.grantee} ${g.privilege_type} ${g.table_name}`), [
        "authenticated SELECT render_jobs",
        "authenticated SELECT render_steps",
      ]);
    });

    test("clients cannot see or touch the worker's pending removals (Supabase's default grants taken back)", async () => {
      for (const who of [ALICE, null]) {
        await assert.rejects(asUser(db, who, `select * from render_unpublish_pending`), /permission denied/);
        await assert.rejects(asUser(db, who, `delete from render_unpublish_pending`), /permission denied/);
      }
    });

    test("a client cannot update jobs (no grant)", async () => {
      await assert.rejects(asUser(db, ALICE, `update render_jobs set status = 'succeeded'`), /permission denied/);
    });

    test("the renders bucket exists and clients read only their own folder", async () => {
      const [bucket] = await db.query<{ public: boolean; allowed_mime_types: string[] }>(`select public, allowed_mime_types from storage.buckets where id = 'renders'`);
      assert.equal(bucket?.public, false);
      assert.deepEqual(bucket?.allowed_mime_types, ["video/mp4", "application/json", "application/x-subrip", "text/vtt"]); // MP4s, the image cache's pointers, caption files
      const objs = await asUser<{ name: string }>(db, ALICE, `select name from storage.objects`);
      assert.deepEqual(objs.map((o) => o.name), [`${ALICE}/a.mp4`]);
    });

    test("migrations are idempotent", async () => {
      assert.deepEqual(await migrate(db), []);
    });
  });
}
