import assert from "node:assert/strict";
import { test } from "node:test";
import { createTestDatabase } from "../../test/support/postgres.ts";
import { runRace } from "../../test/support/race.ts";

test("4 worker processes on real Postgres never claim a job twice", async () => {
  const t = createTestDatabase("cc_race");
  try {
    const r = await runRace(t.url, 4, 400);
    assert.equal(r.duplicates, 0);
    assert.equal(r.claimedOnce, 400, "every job was claimed");
    assert.equal(r.perWorker.reduce((s, w) => s + w.claims, 0), 400);
    assert.ok(r.perWorker.filter((w) => w.claims > 0).length >= 2, "the claims really were concurrent");
  } finally {
    t.drop();
  }
});
