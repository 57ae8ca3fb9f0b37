/**
 * A query the worker gives up on must also stop on the server. The client-side timeout only
 * stops waiting: a claim queued behind another session's lock (a replica's migration, say)
 * kept running after the worker gave up, and committed once the lock was released, leaving a
 * row `running`/`locked_by` this worker that it never knew it held. A server-side
 * statement_timeout cancels and rolls the statement back. Migrations (`transaction`) wait on
 * their advisory lock for as long as another replica migrates, so they are not bounded by it.
 * Real PostgreSQL.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import pg from "pg";
import { createTestDatabase, postgresAvailable } from "../../test/support/postgres.ts";
import { openPostgres } from "./postgres.ts";

const skip = !postgresAvailable() && "no PostgreSQL";

test("a statement stuck on another session's lock is cancelled on the server, not left to commit after the timeout", { timeout: 30_000, skip }, async () => {
  const t = createTestDatabase("cc_stmt_to");
  const blocker = new pg.Client({ connectionString: t.url });
  // The client's timeout well past the server's, so which one fires does not hang on load.
  const db = openPostgres(t.url, 2, { queryTimeoutMs: 10_000, statementTimeoutMs: 500 });
  try {
    await blocker.connect();
    await blocker.query("create table jobs (id int primary key, status text not null)");
    await blocker.query("insert into jobs values (1, 'queued')");
    await blocker.query("begin");
    await blocker.query("lock table jobs in access exclusive mode"); // as a migration's CREATE INDEX / ALTER holds it

    const err = await db.query("update jobs set status = 'running' where id = 1").then(
      () => assert.fail("the update ran through an exclusive lock"),
      (e: unknown) => e as { code?: string; message?: string },
    );
    assert.equal(err.code, "57014", `cancelled by the server (query_canceled), got: ${err.message}`);
    const waiting = await blocker.query("select count(*)::int as n from pg_locks where not granted and relation = 'jobs'::regclass");
    assert.equal(waiting.rows[0].n, 0, "no session is still waiting to run the abandoned update");

    await blocker.query("commit");
    assert.deepEqual(await db.query("select status from jobs where id = 1"), [{ status: "queued" }], "the abandoned update never committed");
  } finally {
    await blocker.end().catch(() => undefined);
    await db.close();
    t.drop();
  }
});

test("every pooled connection has the server-side timeout; a transaction (migrations) has none", { timeout: 30_000, skip }, async () => {
  const t = createTestDatabase("cc_stmt_to");
  const db = openPostgres(t.url, 2, { queryTimeoutMs: 1000 });
  try {
    // Two at once, so both connections of the pool answer.
    const shown = await Promise.all([0, 1].map(() => db.query<{ statement_timeout: string }>("select current_setting('statement_timeout') as statement_timeout, pg_sleep(0.05)")));
    for (const [row] of shown) {
      assert.equal(row?.statement_timeout, "900ms", "a little under the client's timeout");
    }
    const inTx = await db.transaction(async (tx) => {
      // Longer than the statement timeout: a migration's lock wait or a long CREATE INDEX.
      await tx.query("select pg_sleep(1.2)");
      return (await tx.query<{ s: string }>("select current_setting('statement_timeout') as s"))[0]?.s;
    });
    assert.equal(inTx, "0");
    const after = await db.query<{ s: string }>("select current_setting('statement_timeout') as s");
    assert.equal(after[0]?.s, "900ms", "the transaction's setting did not outlive it on the pooled connection");
  } finally {
    await db.close();
    t.drop();
  }
});
