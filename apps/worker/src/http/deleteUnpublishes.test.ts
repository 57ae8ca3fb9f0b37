/**
 * The owner's DELETE of a render that is queued with its video already published (an attempt
 * copied the MP4, then failed to record it or to publish a caption file, and was queued to run
 * again): the render ends cancelled and no worker runs it again, so the API removes what was
 * published. The MP4 stayed under the owner's name for good, with the render saying it had none.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Db } from "../db/db.ts";
import { log } from "../log.ts";
import { Metrics } from "../metrics.ts";
import { claim, enqueue, fail, getRender, saveStep } from "../queue/index.ts";
import { Router } from "../router/index.ts";
import { recordingPublisher, VIDEO } from "../../test/support/publishing.ts";
import { ScriptedCompute } from "../../test/support/scriptedCompute.ts";
import { until } from "../../test/support/until.ts";
import { parseTokens } from "./auth.ts";
import { buildApi } from "./server.ts";
import { openMigratedPglite, SMALL_REQUEST } from "../../test/support/migratedPglite.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

test("DELETE of a queued render whose video an earlier attempt published removes the published files", async () => {
  const { stored, publisher } = recordingPublisher();
  const router = new Router({ inhouse: new ScriptedCompute("inhouse", () => ({ status: "running" })).client() });
  const api = buildApi({ db, router, metrics: new Metrics(), log, tokens: parseTokens("tok-alice:alice"), publisher });
  try {
    const { row } = await enqueue(db, { owner: "alice", request: SMALL_REQUEST, maxAttempts: 3 });
    await db.query(`update render_jobs set status = 'cancelled' where id <> $1 and status in ('queued', 'running')`, [row.id]);
    assert.equal((await claim(db, "w1", 30))?.id, row.id);
    await saveStep(db, row.id, "render", { status: "succeeded", step_attempt: 1, output: { video: VIDEO, durationMs: 1000 } });
    // The attempt copied the video, then its caption copy failed: queued to publish again.
    await saveStep(db, row.id, "publish", { status: "running", step_attempt: 1 });
    await publisher.publish(VIDEO, "alice", row.id);
    await saveStep(db, row.id, "publish", { status: "failed", error: { code: "storage_unavailable", message: "503", retryable: true } });
    assert.equal(await fail(db, row.id, "w1", { code: "storage_unavailable", message: "503", retryable: true }, 60), "queued");

    const res = await api.inject({ method: "DELETE", url: `/v1/renders/${row.id}`, headers: { authorization: "Bearer tok-alice" } });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((await getRender(db, row.id))?.status, "cancelled");
    await until("the published files removed", async () => stored.size === 0, 5_000, 10)
      .catch(() => assert.fail(`a cancelled render keeps ${JSON.stringify([...stored])} under its owner's name`));
  } finally {
    await router.close();
    await api.close();
  }
});
