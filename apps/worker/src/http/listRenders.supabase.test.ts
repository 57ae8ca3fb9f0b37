/**
 * GET /v1/renders with the Supabase publisher (the real supabase-js client against the storage
 * helper's fake Storage server): a page's video URLs are signed with Storage's batch endpoint,
 * one request per page whatever its size; a video Storage does not have, or a batch Storage
 * refuses, keeps its recorded URL and the page is still a 200.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { ComputeClient } from "../client/modal-client.ts";
import type { Db } from "../db/db.ts";
import { migrate } from "../db/migrate.ts";
import { openPglite } from "../db/pglite.ts";
import { log } from "../log.ts";
import { Metrics } from "../metrics.ts";
import { Router } from "../router/index.ts";
import { LocalPublisher } from "../storage/LocalPublisher.ts";
import { SupabasePublisher } from "../storage/SupabasePublisher.ts";
import { FakeSupabaseStorage, recordingFetch } from "../../test/support/fakeSupabaseStorage.ts";
import { parseTokens } from "./auth.ts";
import { buildApi } from "./server.ts";

const SIGN = "POST /storage/v1/object/sign/renders"; // the batch endpoint, for the renders bucket

interface Item { id: string; status: string; result: { video: { key: string; url: string } } | null }

describe("GET /v1/renders signs a page's video URLs in one Storage request", () => {
  const storage = new FakeSupabaseStorage();
  let db: Db;
  let router: Router;
  const apis: Array<ReturnType<typeof buildApi>> = [];

  before(async () => {
    await storage.start();
    db = await openPglite();
    await migrate(db);
    router = new Router({ inhouse: new ComputeClient({ name: "inhouse", baseUrl: "http://127.0.0.1:9" }) });
  });
  after(async () => {
    for (const a of apis) await a.close();
    await db.close();
    storage.stop();
  });

  /** An API whose publisher talks to the fake Storage through a recording fetch. */
  async function api(serviceRoleKey = storage.key) {
    const rec = recordingFetch();
    const publisher = new SupabasePublisher({ url: storage.url, serviceRoleKey, expiresInS: 600, fetch: rec.fetch });
    const app = buildApi({ db, router, metrics: new Metrics(), log, tokens: parseTokens("tok-alice:alice,tok-bob:bob"), publisher });
    apis.push(app);
    const base = await app.listen({ host: "127.0.0.1", port: 0 });
    const list = async (query: string, token = "tok-alice") => {
      const r = await fetch(`${base}/v1/renders?${query}`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(r.status, 200);
      return (await r.json()) as { data: Item[]; has_more: boolean; next_cursor: string | null };
    };
    return { rec, list };
  }

  /** `n` succeeded renders of `owner` whose videos are in Storage (unless `stored` is false), each with a recorded URL. */
  async function succeeded(owner: string, n: number, stored = true): Promise<Map<string, { key: string; bytes: string; recorded: string }>> {
    const out = new Map<string, { key: string; bytes: string; recorded: string }>();
    for (let i = 0; i < n; i++) {
      const id = randomUUID();
      const key = `renders/${owner}/${id}.mp4`;
      const bytes = `video of ${id}`;
      if (stored) await storage.put("renders", `${owner}/${id}.mp4`, Buffer.from(bytes));
      const recorded = `http://recorded.test/${id}`;
      const video = { key, sha256: "b".repeat(64), size: bytes.length, content_type: "video/mp4", url: recorded };
      const source = { ...video, key: "artifacts/sha256/bb/" + "b".repeat(64) + ".mp4" };
      await db.query(
        `insert into render_jobs (id, owner, request, status, result) values ($1, $2, '{"title": "t"}'::jsonb, 'succeeded', $3::jsonb)`,
        [id, owner, JSON.stringify({ video, source, duration_ms: 1000, captions: 1 })],
      );
      out.set(id, { key, bytes, recorded });
    }
    return out;
  }

  const served = async (url: string) => {
    const res = await fetch(url);
    assert.equal(res.status, 200, url);
    return res.text();
  };

  test("a page of N succeeded renders makes one signing request, and every URL serves its video", async () => {
    const videos = await succeeded("alice", 30);
    await db.query(`insert into render_jobs (owner, request, status) select 'alice', '{}'::jsonb, 'queued' from generate_series(1, 5)`);
    const { rec, list } = await api();
    const page = await list("limit=100");
    assert.equal(page.data.length, 35);
    assert.deepEqual(rec.calls, [SIGN], "one request for the page's 30 videos");
    const done = page.data.filter((d) => d.status === "succeeded");
    assert.equal(done.length, 30);
    for (const d of done) {
      const v = videos.get(d.id)!;
      assert.equal(d.result!.video.key, v.key);
      assert.ok(new URL(d.result!.video.url).pathname.startsWith(`/storage/v1/object/sign/${v.key}`), d.result!.video.url);
      assert.equal(await served(d.result!.video.url), v.bytes);
    }

    // Paging: one request per page that has a succeeded render on it, none for the others.
    rec.calls.length = 0;
    let pages = 0;
    let withVideos = 0;
    let cursor: string | null = null;
    do {
      const before = rec.calls.length;
      const p = await list(`limit=8${cursor ? `&cursor=${cursor}` : ""}`);
      const signed = p.data.filter((d) => d.status === "succeeded").length;
      assert.equal(rec.calls.length - before, signed ? 1 : 0, `page ${pages + 1} with ${signed} videos`);
      pages++;
      if (signed) withVideos++;
      cursor = p.next_cursor;
    } while (cursor);
    assert.equal(pages, 5);
    assert.deepEqual(rec.calls, Array(withVideos).fill(SIGN));

    rec.calls.length = 0;
    assert.equal((await list("status=queued")).data.length, 5);
    assert.deepEqual(rec.calls, [], "a page without a succeeded render asks Storage nothing");
  });

  test("a video Storage does not have keeps its recorded URL; the others on the page are signed", async () => {
    const present = await succeeded("bob", 3);
    const gone = await succeeded("bob", 2, false);
    const { rec, list } = await api();
    const page = await list("limit=100", "tok-bob");
    assert.deepEqual(rec.calls, [SIGN]);
    for (const d of page.data) {
      if (gone.has(d.id)) assert.equal(d.result!.video.url, gone.get(d.id)!.recorded);
      else assert.equal(await served(d.result!.video.url), present.get(d.id)!.bytes);
    }
  });

  test("a batch Storage refuses (a wrong service-role key) serves every recorded URL, in one request", async () => {
    const { rec, list } = await api("not-the-key");
    const page = await list("limit=100", "tok-bob");
    assert.deepEqual(rec.calls, [SIGN]);
    assert.ok(page.data.length >= 5);
    for (const d of page.data) assert.match(d.result!.video.url, /^http:\/\/recorded\.test\//);
  });
});

test("LocalPublisher.signedUrls signs each key locally, in order; an invalid key is that key's error", async () => {
  const now = 1_900_000_000;
  const pub = new LocalPublisher("/nonexistent-store", "http://compute.test", () => "s", 60, () => now);
  const keys = ["renders/a/r1.mp4", "../etc/passwd", "renders/a/r2.mp4"];
  const out = await pub.signedUrls(keys);
  assert.deepEqual(out.map((r) => r.key), keys);
  assert.equal(out[0]!.url, await pub.signedUrl(keys[0]!));
  assert.equal(out[2]!.url, await pub.signedUrl(keys[2]!));
  assert.deepEqual([out[1]!.url, out[1]!.error?.code, out[1]!.error?.retryable], [undefined, "invalid_key", false]);
});
