import type { Db } from "./db.ts";
import { migrate } from "./migrate.ts";
import { openPglite } from "./pglite.ts";
import { openPostgres } from "./postgres.ts";

/**
 * DATABASE_URL selects Postgres/Supabase (postgres://...); otherwise PGlite, on disk at
 * `pgliteDir` (or in memory for `memory://`). Migrations run on open.
 */
export async function openDb(opts: { url?: string | undefined; pgliteDir?: string | undefined; poolSize?: number }): Promise<Db> {
  const url = opts.url ?? "";
  const db = /^postgres(ql)?:\/\//.test(url)
    ? openPostgres(url, opts.poolSize)
    : await openPglite(url === "memory://" ? undefined : opts.pgliteDir);
  await migrate(db);
  return db;
}
