/**
 * An owner's cancel that lands while the worker's completion (or final failure) holds the
 * row, on real Postgres (PGlite has one connection, so no interleaving): the cancel waits
 * for the row lock, finds the render ended, and must answer with how it ended, not with the
 * `running` row its statement's snapshot saw before the completion committed.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Db } from "../db/db.ts";
import { migrate } from "../db/migrate.ts";
import { openPostgres } from "../db/postgres.ts";
import { createTestDatabase } from "../../test/support/postgres.ts";
import { until } from "../../test/support/until.ts";
import * as q from "./index.ts";

const REQUEST = { narration_audio: "artifacts/sha256/aa/" + "a".repeat(64) + ".wav", scenes: [{ narration: "hi", image_prompt: "x" }] };

let t: ReturnType<typeof createTestDatabase>;
let db: Db;
before(async () => {
  t = createTestDatabase("cc_cancel_race");
  db = openPostgres(t.url, 4);
  await migrate(db);
});
after(async () => {
  await db.close();
  t.drop();
});

/** Run `end` (the worker's complete/fail) in a transaction held open until a cancel of the same row waits on its lock. */
async function cancelDuring(id: string, end: (tx: Pick<Db, "query">) => Promise<unknown>) {
  let cancelling: Promise<q.RenderRow | null> | null = null;
  await db.transaction(async (tx) => {
    await end(tx);
    cancelling = q.cancel(db, id, "alice");
    // The cancel is blocked on the row lock this transaction holds (a barrier, not a sleep).
    await until("the cancel to wait for the row lock", async () =>
      (await db.query<{ n: number }>(
        `select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and query like '%cancelled by its owner%'`,
      ))[0]!.n > 0, 10_000, 10);
  });
  return cancelling!;
}

test("a cancel waiting on a completing render answers succeeded, as the render ended", async () => {
  const { row } = await q.enqueue(db, { owner: "alice", request: REQUEST });
  await q.claim(db, "w1", 30);
  const answered = await cancelDuring(row.id, (tx) => q.complete(tx, row.id, "w1", { ok: true }));
  assert.equal((await q.getRender(db, row.id))?.status, "succeeded");
  assert.equal(answered?.status, "succeeded", "the DELETE answers the render as it is, not the stale running row");
});

test("a cancel waiting on a render's final failure answers failed", async () => {
  const { row } = await q.enqueue(db, { owner: "alice", request: REQUEST });
  await q.claim(db, "w1", 30);
  const answered = await cancelDuring(row.id, (tx) => q.fail(tx, row.id, "w1", { code: "bad", message: "no", retryable: false }, 0));
  assert.equal(answered?.status, "failed");
  assert.equal(answered?.last_error?.code, "bad");
});
