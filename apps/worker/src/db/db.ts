/**
 * The one database interface the worker needs: parameterised queries and multi-statement
 * scripts (migrations). Two implementations: PGlite (embedded default, one connection)
 * and node-postgres (DATABASE_URL: a local Postgres or Supabase).
 */
export interface Db {
  readonly kind: "pglite" | "postgres";
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** Run a script of several statements (no parameters). */
  exec(sql: string): Promise<void>;
  /** Run `fn` inside one transaction on one connection. */
  transaction<T>(fn: (tx: Pick<Db, "query" | "exec">) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
