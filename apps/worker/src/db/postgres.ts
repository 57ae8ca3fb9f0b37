import pg from "pg";
import type { Db } from "./db.ts";

// timestamptz/json parse as the defaults (Date, object); bigint (int8) as number.
pg.types.setTypeParser(20, (v) => Number(v));

/**
 * node-postgres pool over DATABASE_URL (local Postgres or Supabase). Getting a connection is
 * bounded (`connectTimeoutMs`): pg's default waits forever, so an unreachable or hung database
 * (or pooler) hung every API request, /health and the claim loop instead of failing them.
 * So is each `query` (`queryTimeoutMs`; every statement the worker runs is short): a connection
 * that goes silent mid-query (a pooler hung on its backend, a path dropping packets: nothing
 * resets the socket) hung the claim loop and heartbeats for good. A timed-out query's
 * connection is destroyed, not pooled again.
 *
 * That timeout only stops the client waiting: the statement ran on, and a claim queued behind
 * another session's lock (a replica's migration) committed after the worker gave up, leaving
 * a row locked by a worker that never knew it held it (and retries queued behind it). So each
 * connection also gets a server-side `statement_timeout` a little shorter (`statementTimeoutMs`,
 * 90 %), which cancels and rolls the statement back; the client's timeout stays the backstop
 * for a connection that says nothing at all. It is a `SET` run on each new connection before
 * the pool hands it out (pg-pool's `onConnect`), not a startup-packet option, which poolers
 * (Supabase's Supavisor) may refuse. `transaction` is left unbounded (`set local` to 0): only
 * migrations use it, and their advisory lock rightly waits while another replica migrates.
 */
export function openPostgres(
  url: string,
  max = 4,
  opts: { connectTimeoutMs?: number; queryTimeoutMs?: number; statementTimeoutMs?: number } = {},
): Db {
  const queryTimeoutMs = opts.queryTimeoutMs ?? 30_000;
  const statementTimeoutMs = Math.max(1, Math.floor(opts.statementTimeoutMs ?? queryTimeoutMs * 0.9));
  const pool = new pg.Pool({
    connectionString: url,
    max,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
    // Awaited before the connection is first used; a failure ends it and fails that checkout.
    onConnect: async (client) => {
      const set: pg.QueryConfig & { query_timeout: number } = { text: `set statement_timeout = ${statementTimeoutMs}`, query_timeout: queryTimeoutMs };
      await client.query(set);
    },
  });
  pool.on("error", () => {
    /* an idle client died (server restart); the pool replaces it on next use */
  });
  return {
    kind: "postgres",
    async query<T>(text: string, params: unknown[] = []) {
      // pg reads `query_timeout` per query too (its typings only have the client-wide one).
      const config: pg.QueryConfig & { query_timeout: number } = { text, values: params, query_timeout: queryTimeoutMs };
      const res = await pool.query(config);
      return res.rows as T[];
    },
    async exec(sql: string) {
      await pool.query(sql);
    },
    async transaction<T>(fn: (tx: Pick<Db, "query" | "exec">) => Promise<T>) {
      const client = await pool.connect();
      try {
        await client.query("begin");
        await client.query("set local statement_timeout = 0"); // ends with the transaction
        const out = await fn({
          async query<R>(text: string, params: unknown[] = []) {
            return (await client.query(text, params)).rows as R[];
          },
          async exec(sql: string) {
            await client.query(sql);
          },
        });
        await client.query("commit");
        return out;
      } catch (e) {
        await client.query("rollback").catch(() => undefined);
        throw e;
      } finally {
        client.release();
      }
    },
    async close() {
      await pool.end();
    },
  };
}
