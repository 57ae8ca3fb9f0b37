/**
 * Applies supabase/migrations/*.sql in name order, once each, on PGlite or Postgres.
 * The same files are what `supabase db push` applies on Supabase. An advisory lock keeps
 * several workers starting at once from racing.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Db } from "./db.ts";

export const MIGRATIONS_DIR = resolve(fileURLToPath(import.meta.url), "../../../../../supabase/migrations");
const LOCK_ID = 727_001;

export function migrationFiles(dir = MIGRATIONS_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => /^\d+_[a-z0-9_]+\.sql$/.test(f))
    .sort();
}

export async function migrate(db: Db, dir = MIGRATIONS_DIR): Promise<string[]> {
  const applied: string[] = [];
  await db.transaction(async (tx) => {
    await tx.query("select pg_advisory_xact_lock($1)", [LOCK_ID]);
    await tx.exec(
      "create table if not exists public.canvascast_migrations (name text primary key, applied_at timestamptz not null default now())",
    );
    const done = new Set(
      (await tx.query<{ name: string }>("select name from public.canvascast_migrations")).map((r) => r.name),
    );
    for (const file of migrationFiles(dir)) {
      if (done.has(file)) continue;
      await tx.exec(readFileSync(join(dir, file), "utf8"));
      await tx.query("insert into public.canvascast_migrations (name) values ($1)", [file]);
      applied.push(file);
    }
  });
  return applied;
}
