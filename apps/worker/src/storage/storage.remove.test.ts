/**
 * `Publisher.remove`, used for a render cancelled while it was published: its video and
 * caption files are gone afterwards (their signed URLs no longer serve them), on both stores;
 * removing a key that is not there is no error.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { FakeSupabaseStorage } from "../../test/support/fakeSupabaseStorage.ts";
import { tempDir } from "../../test/support/tmp.ts";
import { LocalPublisher } from "./LocalPublisher.ts";
import { SupabasePublisher } from "./SupabasePublisher.ts";

const storage = new FakeSupabaseStorage();
before(() => storage.start());
after(() => storage.stop());

test("Supabase: remove deletes the published objects; a key not there is no error", async () => {
  const pub = new SupabasePublisher({ url: storage.url, serviceRoleKey: storage.key, expiresInS: 600 });
  const video = await pub.publish(await storage.upload(Buffer.from("video bytes")), "owner_1", "render-x");
  const srt = await pub.publish(await storage.upload(Buffer.from("1\n00:00:00,000 --> 00:00:01,000\nHi.\n"), "srt", "application/x-subrip"), "owner_1", "render-x");
  assert.equal((await fetch(video.url)).status, 200);
  await pub.remove([video.key, srt.key, "renders/owner_1/render-x.vtt"]);
  assert.notEqual((await fetch(video.url)).status, 200, "the video is gone");
  assert.notEqual((await fetch(srt.url)).status, 200, "the captions are gone");
});

test("local: remove deletes the published files; a key not there is no error", async () => {
  const dir = tempDir();
  try {
    const pub = new LocalPublisher(dir.path, "http://compute.test", () => "s");
    const bytes = Buffer.from("video bytes");
    const sha = createHash("sha256").update(bytes).digest("hex");
    const key = `artifacts/sha256/${sha.slice(0, 2)}/${sha}.mp4`;
    mkdirSync(dirname(join(dir.path, key)), { recursive: true });
    writeFileSync(join(dir.path, key), bytes);
    const out = await pub.publish({ key, sha256: sha, size: bytes.length, content_type: "video/mp4" }, "owner_1", "render-x");
    assert.ok(existsSync(pub.pathFor(out.key)));
    await pub.remove([out.key, "renders/owner_1/render-x.srt"]);
    assert.ok(!existsSync(pub.pathFor(out.key)));
    assert.ok(existsSync(join(dir.path, key)), "the artifact it was copied from stays");
  } finally {
    dir.cleanup();
  }
});
