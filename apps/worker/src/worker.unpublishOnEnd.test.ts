/**
 * A render that ends without a video (failed, dead, cancelled) keeps nothing published under
 * its owner's name, whatever the path: a publish whose success could not be recorded on the
 * last attempt, a caption file that failed after the video was copied, a cancel that lands
 * while a caption file is copied, a worker that died mid-publish on its last attempt, a
 * failed read after a cancelled render's completion was refused. And a publish never starts
 * once the worker has seen the render cancelled.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Db } from "./db/db.ts";
import { cancel, claim, saveStep } from "./queue/index.ts";
import { PublishError, type Publisher } from "./storage/publisher.ts";
import { droppingDb } from "../test/support/droppingDb.ts";
import { openMigratedPglite } from "../test/support/migratedPglite.ts";
import { recordingPublisher, renderedUpToPublish, VIDEO } from "../test/support/publishing.ts";
import { renderEnded, withWorker } from "../test/support/testWorker.ts";
import { until } from "../test/support/until.ts";

let db: Db;
before(async () => (db = await openMigratedPglite()));
after(() => db.close());

/** A render with every compute step done (captions included): only its publish is left. */
const rendered = (maxAttempts: number) => renderedUpToPublish(db, { maxAttempts, captions: true });
const ended = (id: string) => renderEnded(db, id);
/** Every 50 ms: a cancel is seen soon. */
const HEARTBEAT = { heartbeatMs: 50 };
/** Fails the upsert of the publish step's `succeeded` row, `times` times. */
const publishSucceededDropped = (times?: number) =>
  droppingDb(db, (text, params) => /insert into public\.render_steps/.test(text) && params?.[1] === "publish" && params?.[2] === "succeeded", { times });

/** Waits until nothing is stored, or fails naming what is. */
const emptied = (stored: Set<string>, what: string) =>
  until(what, async () => stored.size === 0, 5_000, 10).catch(() => assert.fail(`${what}: still stored ${JSON.stringify([...stored])}`));

test("the publish step's success cannot be recorded on the last attempt: the render does not end without a video with its MP4 published", async () => {
  const id = await rendered(1);
  const { stored, publisher } = recordingPublisher();
  const flaky = publishSucceededDropped(); // the database is gone for a while
  await withWorker({ db: flaky.db, publisher, options: HEARTBEAT }, async () => {
    const end = await ended(id);
    assert.ok(flaky.dropped() > 0, "the blip happened");
    if (end.status !== "succeeded") await emptied(stored, `a ${end.status} render keeps no published files`);
  });
});

test("one blip on the publish step's success record: the render still ends succeeded", async () => {
  const id = await rendered(1);
  const { stored, publisher } = recordingPublisher();
  const flaky = publishSucceededDropped(1);
  await withWorker({ db: flaky.db, publisher, options: HEARTBEAT }, async () => {
    const end = await ended(id);
    assert.equal(end.status, "succeeded", `${end.status}: ${JSON.stringify(end.last_error)}`);
    assert.equal(stored.size, 3);
  });
});

test("a caption file fails for good after the video was copied: the failed render keeps no MP4", async () => {
  const id = await rendered(3);
  const { stored, publisher } = recordingPublisher({
    beforeCopy: async (ext) => {
      if (ext === "srt") throw new PublishError("checksum_mismatch", "sha256 of the srt is not what align reported", false);
    },
  });
  await withWorker({ db, publisher, options: HEARTBEAT }, async () => {
    const end = await ended(id);
    assert.equal(end.status, "failed");
    await emptied(stored, "a failed render keeps no published files");
  });
});

test("a cancel lands while a caption file is copied, and the copy fails: the cancelled render keeps no MP4", async () => {
  for (const retryable of [true, false]) {
    const id = await rendered(3);
    const { stored, publisher } = recordingPublisher({
      beforeCopy: async (ext, rid) => {
        if (ext !== "srt") return;
        await cancel(db, rid, "o");
        throw new PublishError(retryable ? "storage_unavailable" : "checksum_mismatch", "the caption copy failed", retryable);
      },
    });
    await withWorker({ db, publisher, options: HEARTBEAT }, async ({ lines }) => {
      assert.equal((await ended(id)).status, "cancelled");
      await until("the attempt accounted for", async () => lines.some((l) => l.render_id === id && (l.event === "render_aborted" || l.event === "render_failed")), 5_000, 10);
      await emptied(stored, `a cancelled render keeps no published files (caption error retryable: ${retryable})`);
    });
  }
});

test("the worker has seen the render cancelled before the publish: nothing is copied", async () => {
  const id = await rendered(3);
  const { stored, publisher } = recordingPublisher();
  let copies = 0;
  const counting: Publisher = { ...publisher, publish: (...a) => (copies++, publisher.publish(...a)) };
  let heartbeatsSeen = 0;
  let cancelled = false;
  const watched = Object.assign(Object.create(db) as Db, {
    async query(text: string, params?: unknown[]) {
      const heartbeat = /set locked_until = case when status = 'running'/.test(text);
      if (/insert into public\.render_steps/.test(text) && params?.[1] === "publish" && params?.[2] === "running" && !cancelled) {
        // The owner cancels just before the publish, and the worker's heartbeat sees it.
        cancelled = true;
        await cancel(db, id, "o");
        const seen = heartbeatsSeen;
        await until("a heartbeat after the cancel", async () => heartbeatsSeen > seen, 5_000, 5);
        await new Promise((r) => setImmediate(r)); // the heartbeat's abort runs right after its query answers
      }
      const out = await db.query(text, params);
      if (heartbeat) heartbeatsSeen++;
      return out;
    },
  });
  await withWorker({ db: watched, publisher: counting, options: HEARTBEAT }, async ({ lines }) => {
    assert.equal((await ended(id)).status, "cancelled");
    await until("the attempt accounted for", async () => lines.some((l) => l.render_id === id && l.event === "render_aborted"), 5_000, 10);
    assert.equal(copies, 0, "no copy starts once the cancel was seen");
    assert.deepEqual([...stored], []);
  });
});

test("the read after a refused completion fails once: a cancelled render's MP4 is still removed", async () => {
  const id = await rendered(3);
  let release: (() => void) | null = null;
  const { stored, publisher } = recordingPublisher({
    beforeCopy: async (ext) => {
      if (ext === "mp4") await new Promise<void>((r) => (release = r));
    },
  });
  let failReads = 0;
  const flaky = Object.assign(Object.create(db) as Db, {
    async query(text: string, params?: unknown[]) {
      if (failReads > 0 && /^select \* from public\.render_jobs where id = \$1$/.test(text.trim())) {
        failReads--;
        throw new Error("Connection terminated unexpectedly");
      }
      const out = await db.query(text, params);
      // complete() refused (the render was cancelled): the read that follows fails once.
      if (/set status = 'succeeded'/.test(text) && out.length === 0) failReads = 1;
      return out;
    },
  });
  await withWorker({ db: flaky, publisher, options: { heartbeatMs: 10_000 } }, async ({ lines }) => {
    await until("the publish under way", async () => release !== null, 10_000, 10);
    await cancel(db, id, "o");
    release!();
    await until("the attempt accounted for", async () => lines.some((l) => l.event === "render_aborted" && l.render_id === id), 5_000, 10);
    assert.equal(failReads, 0, "the read failed");
    await emptied(stored, "a cancelled render keeps no published files");
  }); // no heartbeat during the test: the refused completion is how the worker learns of the cancel
});

test("a worker died mid-publish on the last attempt: the render reaped dead keeps no MP4", async () => {
  const id = await rendered(1);
  const { stored, publisher } = recordingPublisher();
  // What the dead worker copied before it died: the video, its step still `running`.
  await publisher.publish(VIDEO, "o", id);
  assert.equal((await claim(db, "died", -1))?.id, id);
  await saveStep(db, id, "publish", { status: "running", step_attempt: 1, started_at: new Date() });
  await withWorker({ db, publisher, workerId: "w2", options: HEARTBEAT }, async () => {
    assert.equal((await ended(id)).status, "dead");
    await emptied(stored, "a dead render keeps no published files");
  });
});

test("storage refuses the removal after a cancel during the publish: still a cancelled attempt, and the failure logged", async () => {
  const id = await rendered(3);
  let release: (() => void) | null = null;
  const { publisher } = recordingPublisher({
    beforeCopy: async (ext) => {
      if (ext === "mp4") await new Promise<void>((r) => (release = r));
    },
  });
  const refusing: Publisher = { ...publisher, remove: async () => { throw new PublishError("storage_unavailable", "503 from storage", true); } };
  await withWorker({ db, publisher: refusing, options: { heartbeatMs: 10_000 } }, async ({ lines }) => {
    await until("the publish under way", async () => release !== null, 10_000, 10);
    await cancel(db, id, "o");
    release!();
    const line = await until("the attempt accounted for", async () => lines.find((l) => l.event === "render_aborted" && l.render_id === id), 5_000, 10);
    assert.equal(line.reason, "cancelled");
    assert.ok(lines.some((l) => l.event === "unpublish_failed" && l.render_id === id), "the failed removal is logged");
  });
});
