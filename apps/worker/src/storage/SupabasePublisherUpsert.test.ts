/**
 * A republish replaces the published video in one step (`POST /object/copy` with `x-upsert:
 * true`, as storage-api's copyObject takes it), so the key is never missing: the old way, a
 * copy refused 409, a remove and a second copy, left a window in which the render's video URL
 * answered 404 (and a concurrent publish landing in it made the second copy a 409). A Storage
 * older than copy-with-upsert still answers 409: then the remove-and-copy fallback replaces it.
 * The real supabase-js client against the fake Storage server (tests/storage/fake_supabase_storage.py).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { FakeSupabaseStorage } from "../../test/support/fakeSupabaseStorage.ts";
import { SupabasePublisher } from "./SupabasePublisher.ts";

describe("SupabasePublisher republish (upsert copy)", () => {
  const storage = new FakeSupabaseStorage();
  before(() => storage.start());
  after(() => storage.stop());

  /** The published object's bytes right now, or null when Storage has none. */
  async function published(path: string): Promise<string | null> {
    const res = await fetch(`${storage.url}/storage/v1/object/renders/${path}`, { headers: { authorization: `Bearer ${storage.key}`, apikey: storage.key } });
    return res.status === 200 ? res.text() : (await res.arrayBuffer(), null);
  }

  /**
   * A fetch for supabase-js that, after each request it passes on, looks at `path` in the
   * renders bucket (what a viewer of the video URL would get then). `legacy`: Storage ignores
   * x-upsert on copy, as one older than copy-with-upsert does.
   */
  function observing(path: string, opts: { legacy?: boolean } = {}) {
    const seen: Array<{ request: string; object: string | null }> = [];
    const f = (async (input: string | URL | Request, init: RequestInit = {}) => {
      const req = new Request(input, init);
      if (opts.legacy) req.headers.delete("x-upsert");
      const res = await fetch(req);
      const body = await res.arrayBuffer(); // the request is over before the object is looked at
      seen.push({ request: `${req.method} ${new URL(req.url).pathname}`, object: await published(path) });
      return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
    }) as typeof fetch;
    return { fetch: f, seen };
  }

  test("republishing different bytes never leaves the key missing, and serves the new bytes", async () => {
    const path = "owner_u/render-u.mp4";
    const first = new SupabasePublisher({ url: storage.url, serviceRoleKey: storage.key, expiresInS: 600 });
    await first.publish(await storage.upload(Buffer.from("first video")), "owner_u", "render-u");
    const obs = observing(path);
    const pub = new SupabasePublisher({ url: storage.url, serviceRoleKey: storage.key, expiresInS: 600, fetch: obs.fetch });
    const out = await pub.publish(await storage.upload(Buffer.from("second video, different")), "owner_u", "render-u");
    const missing = obs.seen.filter((s) => s.object === null).map((s) => s.request);
    assert.deepEqual(missing, [], `the published video was missing after: ${missing.join(", ")}`);
    assert.equal(await (await fetch(out.url)).text(), "second video, different");
    assert.equal(obs.seen.filter((s) => s.request.endsWith("/object/copy")).length, 1, "one copy replaces it");
  });

  test("a Storage that ignores x-upsert on copy (409 on a republish) is still replaced by remove and copy", async () => {
    const path = "owner_u/render-legacy.mp4";
    const first = new SupabasePublisher({ url: storage.url, serviceRoleKey: storage.key, expiresInS: 600 });
    await first.publish(await storage.upload(Buffer.from("old legacy video")), "owner_u", "render-legacy");
    const obs = observing(path, { legacy: true });
    const pub = new SupabasePublisher({ url: storage.url, serviceRoleKey: storage.key, expiresInS: 600, fetch: obs.fetch });
    const out = await pub.publish(await storage.upload(Buffer.from("new legacy video")), "owner_u", "render-legacy");
    assert.equal(await (await fetch(out.url)).text(), "new legacy video");
    assert.equal(obs.seen.filter((s) => s.request.endsWith("/object/copy")).length, 2, "refused, then copied again after the remove");
  });
});
