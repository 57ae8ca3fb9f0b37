/** What the worker's database tests share: one migrated PGlite per test file, and the smallest valid render request. */
import { migrate } from "../../src/db/migrate.ts";
import { openPglite } from "../../src/db/pglite.ts";
import type { Db } from "../../src/db/db.ts";

export const SMALL_REQUEST = {
  narration_audio: `artifacts/sha256/aa/${"a".repeat(64)}.wav`,
  scenes: [{ narration: "hello world", image_prompt: "a lighthouse" }],
};

/** An in-memory PGlite with every migration applied (close it in `after`). */
export async function openMigratedPglite(): Promise<Db> {
  const db = await openPglite();
  await migrate(db);
  return db;
}
