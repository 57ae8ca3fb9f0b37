/**
 * reapDead's message counts attempts against what the render was allowed. A render whose video
 * was published runs up to PUBLISHED_EXTRA_ATTEMPTS past max_attempts, and the message read
 * "(4/1)": more attempts than allowed, as if the cap had been broken.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Db } from "../db/db.ts";
import { claim, enqueue, getRender, reapDead, saveStep } from "./index.ts";
import { PUBLISHED_EXTRA_ATTEMPTS } from "./published.ts";
import { openMigratedPglite, SMALL_REQUEST } from "../../test/support/migratedPglite.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

async function diedOnEveryAttempt(published: boolean): Promise<string> {
  await db.query(`update render_jobs set status = 'cancelled' where status in ('queued', 'running')`);
  const { row } = await enqueue(db, { owner: "o", request: SMALL_REQUEST, maxAttempts: 1 });
  if (published) await saveStep(db, row.id, "publish", { status: "succeeded", step_attempt: 1, output: { key: `renders/o/${row.id}.mp4` } });
  while ((await claim(db, "died", -1))?.id === row.id); // each attempt's worker dies (its lease already lapsed)
  assert.deepEqual(await reapDead(db, "reaper"), [row.id]);
  return row.id;
}

test("a published render reaped dead reads its attempts out of what it was allowed, not out of max_attempts", async () => {
  const id = await diedOnEveryAttempt(true);
  const r = (await getRender(db, id))!;
  assert.equal(r.attempts, 1 + PUBLISHED_EXTRA_ATTEMPTS);
  assert.equal(r.status, "dead");
  const m = /\((\d+)\/(\d+)/.exec(r.last_error!.message);
  assert.ok(m, r.last_error!.message);
  assert.ok(Number(m[1]) <= Number(m[2]), `more attempts than allowed: ${r.last_error!.message}`);
  assert.equal(m[2], String(1 + PUBLISHED_EXTRA_ATTEMPTS));
});

test("an unpublished render reaped dead reads attempts/max_attempts", async () => {
  const id = await diedOnEveryAttempt(false);
  assert.match((await getRender(db, id))!.last_error!.message, /\(1\/1\)/);
});
