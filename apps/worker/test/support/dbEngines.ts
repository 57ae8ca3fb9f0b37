/**
 * The two databases the worker runs on, for tests that must hold on both (PGlite, the
 * embedded default, and a real Postgres: Supabase's), and the query plan of a statement.
 */
import type { Db } from "../../src/db/db.ts";
import { openPglite } from "../../src/db/pglite.ts";
import { openPostgres } from "../../src/db/postgres.ts";
import { createTestDatabase } from "./postgres.ts";

export type OpenDb = () => Promise<{ db: Db; done: () => Promise<void> }>;

/** [name, open] for PGlite and for a fresh Postgres database named after `prefix` (dropped by `done`). */
export function dbEngines(prefix: string): Array<[string, OpenDb]> {
  return [
    ["pglite", async () => {
      const db = await openPglite();
      return { db, done: () => db.close() };
    }],
    ["postgres", async () => {
      const t = createTestDatabase(prefix);
      const db = openPostgres(t.url);
      return { db, done: async () => { await db.close(); t.drop(); } };
    }],
  ];
}

export interface PlanNode { "Node Type": string; "Index Name"?: string; "Index Cond"?: string; Plans?: PlanNode[] }
const nodes = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(nodes)];

/** Every node of the plan of `sql` with sequential scans and sorts priced out, so only an index that fits can win. */
export async function plan(tx: Pick<Db, "query" | "exec">, sql: string, params: unknown[]): Promise<PlanNode[]> {
  await tx.exec("set local enable_seqscan = off; set local enable_sort = off; set local enable_bitmapscan = off");
  const [row] = await tx.query<{ "QUERY PLAN": unknown }>(`explain (format json) ${sql}`, params);
  const json = row!["QUERY PLAN"];
  return nodes((typeof json === "string" ? JSON.parse(json) : json)[0].Plan as PlanNode);
}

/** The SQL and parameters `send` sends through a stand-in db, without running it. */
export async function sentSql(send: (db: Pick<Db, "query">) => Promise<unknown>): Promise<{ sql: string; params: unknown[] }> {
  let seen = { sql: "", params: [] as unknown[] };
  await send({ query: async (sql: string, params?: unknown[]) => ((seen = { sql, params: params ?? [] }), []) } as Pick<Db, "query">);
  return seen;
}

/** The indexes the plan of what `send` sends uses, on `db`. */
export async function indexesUsed(db: Db, send: (db: Pick<Db, "query">) => Promise<unknown>): Promise<string[]> {
  const { sql, params } = await sentSql(send);
  return db.transaction(async (tx) => (await plan(tx, sql, params)).map((n) => n["Index Name"]).filter((n): n is string => !!n));
}
