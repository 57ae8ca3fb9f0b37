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
 * connection is destroyed, not pooled again. `transaction` is left unbounded: only migrations
 * use it, and their advisory lock rightly waits while another replica migrates.
 */
export function openPostgres(url: string, max = 4, opts: { connectTimeoutMs?: number; queryTimeoutMs?: number } = {}): Db {
  const queryTimeoutMs = opts.queryTimeoutMs ?? 30_000;
  const pool = new pg.Pool({ connectionString: url, max, connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000 });
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
