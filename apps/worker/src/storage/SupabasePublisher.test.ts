/**
 * SupabasePublisher with the real supabase-js client against the storage helper's fake
 * Supabase Storage server (tests/storage/fake_supabase_storage.py: the Storage REST wire
 * protocol, errors as HTTP 400 with the true status in the body).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { FakeSupabaseStorage, recordingFetch } from "../../test/support/fakeSupabaseStorage.ts";
import { PublishError } from "./publisher.ts";
import { SupabasePublisher } from "./SupabasePublisher.ts";

describe("SupabasePublisher (supabase-js against a local Storage server)", () => {
  const storage = new FakeSupabaseStorage();
  let url = "";
  let key = "";
  before(async () => {
    await storage.start();
    ({ url, key } = storage);
  });
  after(() => storage.stop());

  const upload = (bytes: Buffer, ext = "mp4", type = "video/mp4") => storage.upload(bytes, ext, type);

  test("verifies the sha256, copies to renders/<owner>/<id>.mp4 and signs a URL", async () => {
    const bytes = Buffer.from("not really an mp4 but bytes all the same");
    const source = await upload(bytes);
    const pub = new SupabasePublisher({ url, serviceRoleKey: key, expiresInS: 600 });
    const out = await pub.publish(source, "owner_1", "render-1");
    assert.equal(out.key, "renders/owner_1/render-1.mp4");
    assert.equal(out.sha256, source.sha256);
    assert.equal(out.content_type, "video/mp4");
    const res = await fetch(out.url);
    assert.equal(res.status, 200);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);
    const again = await pub.publish(source, "owner_1", "render-1");
    assert.equal(again.key, out.key, "republishing the same render is accepted");
  });

  test("the caption files publish beside the video (renders/<owner>/<id>.srt and .vtt): the renders bucket takes their types", async () => {
    const pub = new SupabasePublisher({ url, serviceRoleKey: key, expiresInS: 600 });
    for (const [ext, type, text] of [["srt", "application/x-subrip", "1\n00:00:00,000 --> 00:00:01,000\nHi.\n"], ["vtt", "text/vtt", "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nHi.\n"]] as const) {
      const out = await pub.publish(await upload(Buffer.from(text), ext, type), "owner_1", "render-cc");
      assert.equal(out.key, `renders/owner_1/render-cc.${ext}`);
      assert.equal(out.content_type, type);
      const res = await fetch(out.url);
      assert.equal(res.status, 200, ext);
      assert.equal(await res.text(), text);
    }
  });

  test("republishing a render with different bytes replaces the video: the URL serves the new bytes, matching the returned sha256 and size", async () => {
    const pub = new SupabasePublisher({ url, serviceRoleKey: key, expiresInS: 600 });
    const first = Buffer.from("first render of R");
    const second = Buffer.from("second, different render of R (longer)");
    const a = await pub.publish(await upload(first), "owner_1", "render-R");
    assert.deepEqual(Buffer.from(await (await fetch(a.url)).arrayBuffer()), first);
    const source = await upload(second);
    const b = await pub.publish(source, "owner_1", "render-R");
    assert.equal(b.key, a.key);
    assert.equal(b.sha256, source.sha256);
    assert.equal(b.size, second.length);
    const res = await fetch(b.url);
    assert.equal(res.status, 200);
    const served = Buffer.from(await res.arrayBuffer());
    assert.deepEqual(served, second, `served ${JSON.stringify(String(served))}`);
    assert.equal(createHash("sha256").update(served).digest("hex"), b.sha256);
    assert.equal(served.length, b.size);
  });

  /** Asserts `p` rejects with a PublishError of this code and retryability (and message, if given). */
  async function rejectsWith(p: Promise<unknown>, code: string, retryable: boolean, message?: RegExp): Promise<void> {
    await assert.rejects(p, (e: unknown) => {
      assert.ok(e instanceof PublishError, String(e));
      assert.equal(e.code, code, e.message);
      assert.equal(e.retryable, retryable, `${e.code}: ${e.message}`);
      if (message) assert.match(e.message, message);
      return true;
    });
  }

  test("errors map as the Python store maps them: a wrong key or a missing bucket is a non-retryable configuration error", async () => {
    const source = await upload(Buffer.from("bytes for the error mapping"));
    await rejectsWith(new SupabasePublisher({ url, serviceRoleKey: "not-the-key" }).publish(source, "o", "r-key"), "storage_unavailable", false, /403/);
    await rejectsWith(new SupabasePublisher({ url, serviceRoleKey: key, artifactsBucket: "nope" }).publish(source, "o", "r-ab"),
      "storage_unavailable", false, /Bucket not found.*"nope".*SUPABASE_ARTIFACT_BUCKET/);
    await rejectsWith(new SupabasePublisher({ url, serviceRoleKey: key, rendersBucket: "nada" }).publish(source, "o", "r-rb"),
      "storage_unavailable", false, /Bucket not found.*"nada".*SUPABASE_RENDERS_BUCKET/);
    // A MIME type the renders bucket does not allow (the fake enforces supabase/config.toml): 415, every time.
    const png = await upload(Buffer.from("not a video"), "png", "image/png");
    await rejectsWith(new SupabasePublisher({ url, serviceRoleKey: key }).publish(png, "o", "r-png"), "storage_unavailable", false, /415/);
  });

  /** supabase-js's fetch with the copy (POST /object/copy) answered by `answer` (a Response, or a thrown transport error). */
  function withCopy(answer: () => Response): typeof fetch {
    return (async (input: string | URL | Request, init?: RequestInit) => {
      const u = new URL(input instanceof Request ? input.url : String(input));
      if (init?.method === "POST" && u.pathname === "/storage/v1/object/copy") return answer();
      return fetch(input, init);
    }) as typeof fetch;
  }

  test("a failed copy is retryable only with no answer, a 5xx or a 429; 413 is payload_too_large", async () => {
    const source = await upload(Buffer.from("bytes for the copy errors"));
    const storage = (status: string, error: string, message: string) => () =>
      new Response(JSON.stringify({ statusCode: status, error, message }), { status: 400, headers: { "content-type": "application/json" } });
    const html = (status: number) => () => new Response(`<html>${status}</html>`, { status, headers: { "content-type": "text/html" } });
    const cases: Array<[string, () => Response, string, boolean]> = [
      ["403 (JSON in 400)", storage("403", "Unauthorized", "new row violates row-level security policy"), "storage_unavailable", false],
      ["413 (JSON in 400)", storage("413", "Payload too large", "The object exceeded the maximum allowed size"), "payload_too_large", false],
      ["413 (gateway HTML)", html(413), "payload_too_large", false],
      ["415 (JSON in 400)", storage("415", "invalid_mime_type", "mime type text/plain is not supported"), "storage_unavailable", false],
      ["400 (JSON in 400)", storage("400", "InvalidRequest", "bad"), "storage_unavailable", false],
      ["500 (JSON in 500)", () => new Response(JSON.stringify({ statusCode: "500", error: "internal", message: "boom" }), { status: 500 }), "storage_unavailable", true],
      ["502 (gateway HTML)", html(502), "storage_unavailable", true],
      ["429 (JSON in 400)", storage("429", "too_many_requests", "slow down"), "storage_unavailable", true],
      ["no answer", () => { throw new TypeError("fetch failed"); }, "storage_unavailable", true],
    ];
    for (const [name, answer, code, retryable] of cases) {
      const pub = new SupabasePublisher({ url, serviceRoleKey: key, fetch: withCopy(answer) });
      await assert.rejects(pub.publish(source, "o", "r-copy"), (e: unknown) => {
        assert.ok(e instanceof PublishError, `${name}: ${String(e)}`);
        assert.deepEqual([e.code, e.retryable], [code, retryable], `${name}: ${e.message}`);
        return true;
      });
    }
  });

  /** supabase-js's fetch with the artifact's download (GET /object/artifacts/...) answered by `body`. */
  function withDownload(body: () => ReadableStream<Uint8Array>): typeof fetch {
    return (async (input: string | URL | Request, init?: RequestInit) => {
      const u = new URL(input instanceof Request ? input.url : String(input));
      if ((init?.method ?? "GET") === "GET" && u.pathname.startsWith("/storage/v1/object/artifacts/")) {
        return new Response(body(), { status: 200, headers: { "content-type": "video/mp4" } });
      }
      return fetch(input, init);
    }) as typeof fetch;
  }

  test("the artifact is hashed as it streams: an artifact larger than its ref is refused without downloading the rest", async () => {
    const source = await upload(Buffer.from("the ref says this many bytes"));
    const CHUNK = 64 * 1024;
    let served = 0;
    const endless = () => new ReadableStream<Uint8Array>({
      pull(c) { // 64 MiB in all if read to the end, which a buffering publisher does before hashing
        if (served >= 1024 * CHUNK) return c.close();
        served += CHUNK;
        c.enqueue(new Uint8Array(CHUNK));
      },
    }, { highWaterMark: 0 });
    const pub = new SupabasePublisher({ url, serviceRoleKey: key, fetch: withDownload(endless) });
    await assert.rejects(pub.publish(source, "o", "r-big"), (e: unknown) => e instanceof PublishError && e.code === "checksum_mismatch" && !e.retryable);
    assert.ok(served <= 4 * CHUNK, `read ${served} bytes of a ${source.size}-byte artifact`);
  });

  test("a download that stops sending is abandoned (retryable), not awaited forever", { timeout: 30_000 }, async () => {
    const bytes = Buffer.from("a few bytes, then silence");
    const source = await upload(bytes);
    let cancelled = false;
    const stalls = () => new ReadableStream<Uint8Array>({
      start(c) { c.enqueue(new Uint8Array(bytes.subarray(0, 5))); }, // then nothing, ever
      cancel() { cancelled = true; },
    });
    const pub = new SupabasePublisher({ url, serviceRoleKey: key, fetch: withDownload(stalls), downloadIdleTimeoutMs: 200 });
    await assert.rejects(pub.publish(source, "o", "r-stall"), (e: unknown) => e instanceof PublishError && e.code === "storage_unavailable" && e.retryable && /no data/.test(e.message));
    assert.ok(cancelled, "the stalled body was cancelled");
  });

  test("signedUrls signs many keys in one request per bucket; a missing object or an invalid key is that key's error", async () => {
    const rec = recordingFetch();
    const pub = new SupabasePublisher({ url, serviceRoleKey: key, expiresInS: 600, fetch: rec.fetch });
    const videos = [Buffer.from("video one"), Buffer.from("video two"), Buffer.from("video three")];
    for (const [i, v] of videos.entries()) await storage.put("renders", `owner_b/r${i}.mp4`, v);
    const art = await upload(Buffer.from("an artifact, signed in the same batch"), "png", "image/png");
    const keys = ["renders/owner_b/r2.mp4", "renders/owner_b/missing.mp4", "renders/owner_b/r0.mp4", "not a key", art.key, "renders/owner_b/r1.mp4", "renders/owner_b/r0.mp4"];
    rec.calls.length = 0;
    const out = await pub.signedUrls(keys);
    assert.deepEqual(rec.calls.sort(), ["POST /storage/v1/object/sign/artifacts", "POST /storage/v1/object/sign/renders"], "one request per bucket");
    assert.deepEqual(out.map((r) => r.key), keys, "one result per key, in order");
    const bytesAt = async (u: string) => {
      const res = await fetch(u);
      assert.equal(res.status, 200, u);
      return Buffer.from(await res.arrayBuffer()).toString();
    };
    assert.deepEqual(await Promise.all([0, 2, 5, 6].map((i) => bytesAt(out[i]!.url!))), ["video three", "video one", "video two", "video one"]);
    assert.equal(await bytesAt(out[4]!.url!), "an artifact, signed in the same batch");
    assert.ok(new URL(out[0]!.url!).pathname.startsWith("/storage/v1/object/sign/renders/owner_b/r2.mp4"), out[0]!.url);
    const missing = out[1]!.error;
    assert.ok(missing instanceof PublishError);
    assert.deepEqual([missing.code, missing.retryable], ["artifact_not_found", false]);
    assert.match(missing.message, /renders\/owner_b\/missing\.mp4.*Either the object does not exist/);
    assert.deepEqual([out[3]!.error?.code, out[3]!.url], ["invalid_key", undefined]);
    rec.calls.length = 0;
    assert.deepEqual((await pub.signedUrls(["not a key"])).map((r) => [r.key, r.error?.code]), [["not a key", "invalid_key"]]);
    assert.deepEqual(rec.calls, [], "nothing to ask Storage");
  });

  test("signedUrls: a batch Storage refuses as a whole is each key's error, mapped as for one key", async () => {
    await storage.put("renders", "owner_b/whole.mp4", Buffer.from("x"));
    const keys = ["renders/owner_b/whole.mp4", "renders/owner_b/r0.mp4"];
    const wrongKey = await new SupabasePublisher({ url, serviceRoleKey: "not-the-key" }).signedUrls(keys);
    for (const r of wrongKey) assert.deepEqual([r.error?.code, r.error?.retryable, /403/.test(r.error?.message ?? "")], ["storage_unavailable", false, true], r.error?.message);
    const down = await new SupabasePublisher({ url: "http://127.0.0.1:9", serviceRoleKey: key }).signedUrls(keys);
    for (const r of down) assert.deepEqual([r.error?.code, r.error?.retryable], ["storage_unavailable", true], r.error?.message);
    // A bucket that does not exist holds no objects: Storage answers each path with its error.
    const nobucket = await new SupabasePublisher({ url, serviceRoleKey: key, rendersBucket: "nada" }).signedUrls(keys);
    for (const r of nobucket) assert.equal(r.error?.code, "artifact_not_found", r.error?.message);
  });

  test("a checksum mismatch or a missing artifact is a non-retryable PublishError", async () => {
    const source = await upload(Buffer.from("some other bytes"));
    const pub = new SupabasePublisher({ url, serviceRoleKey: key });
    await assert.rejects(pub.publish({ ...source, sha256: "0".repeat(64) }, "o", "r2"), (e: unknown) => e instanceof PublishError && e.code === "checksum_mismatch" && !e.retryable);
    const missing = { ...source, key: "artifacts/sha256/ab/" + "ab".repeat(32) + ".mp4", sha256: "ab".repeat(32) };
    await assert.rejects(pub.publish(missing, "o", "r3"), (e: unknown) => e instanceof PublishError && e.code === "artifact_not_found");
  });
});
