import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer, request as httpRequest, type ServerResponse } from "node:http";
import { after, before, describe, test } from "node:test";
import { ComputeClient } from "../client/modal-client.ts";
import { migrate } from "../db/migrate.ts";
import { openPglite } from "../db/pglite.ts";
import type { Db } from "../db/db.ts";
import { Metrics } from "../metrics.ts";
import { saveStep } from "../queue/index.ts";
import { Router } from "../router/index.ts";
import { LocalPublisher } from "../storage/LocalPublisher.ts";
import type { Publisher } from "../storage/publisher.ts";
import { verify } from "../storage/signing.ts";
import { parseTokens } from "./auth.ts";
import { buildApi, type ApiDeps } from "./server.ts";

const KEY = "artifacts/sha256/aa/" + "a".repeat(64) + ".wav";
const GOOD = { narration_audio: KEY, scenes: [{ narration: "Hello there.", image_prompt: "a hello" }] };

describe("HTTP API", () => {
  let db: Db;
  let base: string;
  let app: ReturnType<typeof buildApi>;
  let router: Router;
  const metrics = new Metrics();
  before(async () => {
    db = await openPglite();
    await migrate(db);
    router = new Router({ inhouse: new ComputeClient({ name: "inhouse", baseUrl: "http://127.0.0.1:9" }) });
    app = buildApi({ db, router, metrics, log: (await import("../log.ts")).log, tokens: parseTokens("tok-alice:alice,tok-bob:bob"), eventsPollMs: 20 });
    base = await app.listen({ host: "127.0.0.1", port: 0 });
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  const call = async (method: string, path: string, opts: { token?: string | null; body?: unknown; raw?: string; headers?: Record<string, string> } = {}) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.token !== null) headers.authorization = `Bearer ${opts.token ?? "tok-alice"}`;
    if (opts.body !== undefined || opts.raw !== undefined) headers["content-type"] = "application/json";
    const r = await fetch(base + path, { method, headers, body: opts.raw ?? (opts.body === undefined ? null : JSON.stringify(opts.body)) });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  };

  test("submits a render and reads it back", async () => {
    const r = await call("POST", "/v1/renders", { body: GOOD });
    assert.equal(r.status, 202);
    assert.equal(r.body.status, "queued");
    assert.equal(r.body.owner, "alice");
    assert.equal(r.body.request.owner, "alice");
    const g = await call("GET", `/v1/renders/${r.body.id}`);
    assert.equal(g.status, 200);
    assert.equal(g.body.id, r.body.id);
  });

  test("a duplicate idempotency key gives one render", async () => {
    const h = { "idempotency-key": "dup-1" };
    const a = await call("POST", "/v1/renders", { body: GOOD, headers: h });
    const b = await call("POST", "/v1/renders", { body: GOOD, headers: h });
    assert.equal(a.status, 202);
    assert.equal(b.status, 200);
    assert.equal(a.body.id, b.body.id);
    const rows = await db.query<{ n: number }>(`select count(*)::int as n from render_jobs where idempotency_key = 'dup-1'`);
    assert.equal(rows[0]?.n, 1);
    const c = await call("POST", "/v1/renders", { body: { ...GOOD, title: "different" }, headers: h });
    assert.equal(c.status, 409);
    assert.equal(c.body.error.code, "idempotency_conflict");
  });

  test("bad render requests get a 400 with machine-readable codes", async () => {
    const cases: Array<[unknown, string, string?]> = [
      [{ scenes: GOOD.scenes }, "missing_field", "/narration_audio"],
      [{ ...GOOD, scenes: [] }, "too_few", "/scenes"],
      [{ ...GOOD, fps: 29 }, "invalid_value", "/fps"],
      [{ ...GOOD, extra: 1 }, "unknown_field", "/extra"],
      [{ ...GOOD, scenes: [{ narration: "x" }] }, "image_source", "/scenes/0"],
      [{ ...GOOD, scenes: [{ narration: "x", image_prompt: "p", image: KEY }] }, "image_source", "/scenes/0"],
      [{ ...GOOD, narration_audio: "http://169.254.169.254/latest" }, "unsafe_url", "/narration_audio"],
      [{ ...GOOD, narration_audio: "../../etc/passwd" }, "invalid_reference", "/narration_audio"],
      [{ ...GOOD, scenes: [{ narration: "   ", image_prompt: "p" }] }, "too_short", "/scenes/0/narration"],
      [[1, 2], "validation_error"],
    ];
    for (const [body, code, path] of cases) {
      const r = await call("POST", "/v1/renders", { body });
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.error.code, code, JSON.stringify(r.body));
      if (path) assert.ok(r.body.error.details.some((d: { path: string }) => d.path === path), JSON.stringify(r.body.error.details));
    }
    const bad = await call("POST", "/v1/renders", { raw: "{not json" });
    assert.deepEqual([bad.status, bad.body.error.code], [400, "malformed_json"]);
    // Valid JSON that the parser refuses on purpose (prototype poisoning) is not "malformed".
    const poisoned = await call("POST", "/v1/renders", { raw: JSON.stringify(GOOD).replace("{", '{"__proto__": {"admin": true}, ') });
    assert.deepEqual([poisoned.status, poisoned.body.error.code], [400, "unknown_field"]);
    const empty = await call("POST", "/v1/renders", { raw: "" });
    assert.deepEqual([empty.status, empty.body.error.code], [400, "malformed_json"]);
    const big = await call("POST", "/v1/renders", { raw: JSON.stringify({ ...GOOD, title: "x".repeat(2_000_000) }) });
    assert.deepEqual([big.status, big.body.error.code], [413, "payload_too_large"]);
    const owner = await call("POST", "/v1/renders", { body: { ...GOOD, owner: "bob" } });
    assert.deepEqual([owner.status, owner.body.error.code], [403, "owner_mismatch"]);
  });

  test("a scene whose narration has no words is refused at POST (too_short), wherever it is", async () => {
    // It was a 202, and a wordless last scene then failed every attempt until the render was dead.
    const scene = (narration: string) => ({ narration, image_prompt: "p" });
    for (const [scenes, bad] of [
      [[scene("The moon pulls the sea."), scene("🌊🌊🌊")], 1],
      [[scene("— …"), scene("The moon pulls the sea.")], 0],
      [[scene("The moon pulls the sea."), scene("🌊 🌊"), scene("Tides rise.")], 1],
    ] as const) {
      const r = await call("POST", "/v1/renders", { body: { ...GOOD, scenes } });
      assert.equal(r.status, 400, JSON.stringify(scenes));
      assert.equal(r.body.error.code, "too_short");
      assert.deepEqual(r.body.error.details, [{ path: `/scenes/${bad}/narration`, code: "too_short", message: "narration has no words (a word needs a letter or digit; emoji and punctuation alone are not words)" }]);
    }
    const ok = await call("POST", "/v1/renders", { body: { ...GOOD, scenes: [scene("The moon 🌙 pulls the sea."), scene("潮汐。"), scene("7 🌊")] } });
    assert.equal(ok.status, 202, "an emoji beside a word, a Han character, a digit are words");
  });

  test("narrations the compute plane would refuse are a 400 too_long at POST, at the contract's own limits", async () => {
    const schema = (name: string) => JSON.parse(readFileSync(new URL(`../../../../packages/shared-types/schema/${name}.json`, import.meta.url), "utf8"));
    const maxScript: number = schema("TranscribeAudioRequest").properties.script.anyOf.find((b: { maxLength?: number }) => b.maxLength).maxLength;
    const maxCaptions: number = schema("Timeline").properties.captions.maxItems;
    const maxNarration: number = schema("RenderRequest").$defs.SceneInput.properties.narration.maxLength;
    // The align step sends every narration, one per line: scenes of "x…" filling the script to its limit, then one character more.
    const n = Math.ceil(maxScript / (maxNarration + 1));
    const filling = (extra: number) => Array.from({ length: n }, (_, i) => ({
      narration: "x".repeat(i < n - 1 ? maxNarration : maxScript - (n - 1) * (maxNarration + 1) + extra), image_prompt: "p",
    }));
    assert.equal((await call("POST", "/v1/renders", { body: { ...GOOD, scenes: filling(0) } })).status, 202, "a script at the limit is taken");
    const long = await call("POST", "/v1/renders", { body: { ...GOOD, scenes: filling(1) } });
    assert.equal(long.status, 400);
    assert.deepEqual(long.body.error.details, [{ path: "/scenes", code: "too_long", message: `the narration script (every scene's narration, one per line) is ${maxScript + 1} characters; at most ${maxScript}` }]);
    // Each Han character is a word (and a caption): more words than a Timeline holds, in far fewer characters.
    const perScene = Math.min(maxNarration, maxCaptions);
    const scenes = Array.from({ length: Math.floor(maxCaptions / perScene) + 1 }, () => ({ narration: "潮".repeat(perScene), image_prompt: "p" }));
    const words = scenes.length * perScene;
    assert.ok(scenes.length * (perScene + 1) <= maxScript, "within the script's length");
    const many = await call("POST", "/v1/renders", { body: { ...GOOD, scenes } });
    assert.equal(many.status, 400);
    assert.deepEqual(many.body.error.details, [{ path: "/scenes", code: "too_long", message: `the narrations have ${words} words in all; at most ${maxCaptions} (one caption each)` }]);
  });

  test("a body sent as text/plain (or any type but JSON) is 415 unsupported_media_type, even when it is JSON", async () => {
    for (const type of ["text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded"]) {
      const r = await fetch(`${base}/v1/renders`, { method: "POST", headers: { authorization: "Bearer tok-alice", "content-type": type }, body: JSON.stringify(GOOD) });
      assert.deepEqual([r.status, ((await r.json()) as { error: { code: string } }).error.code], [415, "unsupported_media_type"], type);
    }
  });

  test("a route that takes no body takes an empty one, whatever its Content-Type; POST still needs its JSON", async () => {
    /** DELETE of a new render of alice's, with `headers` and no body; `length` sends Content-Length: 0. */
    const cancelWith = async (type: string, length: boolean) => {
      const id = (await call("POST", "/v1/renders", { body: GOOD })).body.id as string;
      const headers: Record<string, string> = { authorization: "Bearer tok-alice", "content-type": type, ...(length ? { "content-length": "0" } : {}) };
      const { port } = new URL(base);
      return new Promise<{ status: number; body: { status?: string; error?: { code: string } } }>((resolve, reject) => {
        const req = httpRequest({ host: "127.0.0.1", port, method: "DELETE", path: `/v1/renders/${id}`, headers }, (res) => {
          let text = "";
          res.setEncoding("utf8").on("data", (c: string) => (text += c)).on("end", () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
        });
        req.on("error", reject).end();
      });
    };
    for (const type of ["application/json", "text/plain"]) {
      for (const length of [false, true]) {
        const d = await cancelWith(type, length);
        assert.deepEqual([d.status, d.body.status], [200, "cancelled"], `${type}, Content-Length ${length ? "0" : "absent"}: ${JSON.stringify(d.body)}`);
      }
    }
    const empty = await call("POST", "/v1/renders", { raw: "" });
    assert.deepEqual([empty.status, empty.body.error.code], [400, "malformed_json"]);
  });

  test("/v1/ is authenticated by the route a request matches, however its path is escaped", async () => {
    const refusals = async () => Number(/canvascast_auth_failures_total\{code="unauthorized"\} (\d+)/.exec(await metrics.text())?.[1]);
    const id = (await call("POST", "/v1/renders", { body: GOOD })).body.id as string;
    const list = await call("GET", "/%761/renders?limit=1");
    assert.equal(list.status, 200, JSON.stringify(list.body));
    assert.equal(list.body.data[0].id, id);
    assert.equal((await call("GET", `/%76%31/renders/${id}`)).body.id, id);
    const before = await refusals();
    for (const path of ["/%761/renders", `/v%31/renders/${id}`, "/%76%31/nothing-here"]) {
      const r = await fetch(base + path);
      assert.deepEqual([r.status, ((await r.json()) as { error: { code: string } }).error.code], [401, "unauthorized"], path);
      assert.equal(r.headers.get("www-authenticate"), "Bearer", path);
    }
    assert.equal(await refusals(), before + 3, "each refusal counted");
  });

  test("no token or a wrong token is 401", async () => {
    assert.equal((await call("GET", "/v1/renders/00000000-0000-4000-8000-000000000000", { token: null })).status, 401);
    assert.equal((await call("GET", "/v1/renders/00000000-0000-4000-8000-000000000000", { token: "nope" })).body.error.code, "unauthorized");
  });

  test("another owner's token gets a 404, for read, cancel and events", async () => {
    const r = await call("POST", "/v1/renders", { body: GOOD });
    for (const [m, p] of [["GET", ""], ["DELETE", ""], ["GET", "/events"]] as const) {
      const x = await call(m, `/v1/renders/${r.body.id}${p}`, { token: "tok-bob" });
      assert.equal(x.status, 404, `${m} ${p}`);
      assert.equal(x.body.error.code, "not_found");
    }
    assert.equal((await call("GET", `/v1/renders/${r.body.id}`)).body.status, "queued", "bob's cancel did nothing");
    assert.equal((await call("GET", "/v1/renders/not-a-uuid")).status, 404);
  });

  test("DELETE cancels a queued render", async () => {
    const r = await call("POST", "/v1/renders", { body: GOOD });
    const d = await call("DELETE", `/v1/renders/${r.body.id}`);
    assert.equal(d.status, 200);
    assert.equal(d.body.status, "cancelled");
    assert.equal(d.body.error.code, "cancelled");
  });

  test("events stream the render until it is terminal", async () => {
    const r = await call("POST", "/v1/renders", { body: GOOD });
    const res = await fetch(`${base}/v1/renders/${r.body.id}/events`, { headers: { authorization: "Bearer tok-alice" } });
    assert.equal(res.headers.get("content-type"), "text/event-stream");
    const reader = res.body!.getReader();
    let text = "";
    const dec = new TextDecoder();
    const first = await reader.read();
    text += dec.decode(first.value);
    assert.match(text, /event: render\ndata: .*"status":"queued"/);
    await db.query(`update render_jobs set status = 'running', step = 'align' where id = $1`, [r.body.id]);
    await db.query(`update render_jobs set status = 'succeeded', step = null where id = $1`, [r.body.id]);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += dec.decode(value);
    }
    assert.match(text, /event: end\ndata: \{"status":"succeeded"\}/);
  });

  test("text the database cannot store, deep nesting and floods of errors are a 400, never a 500", async () => {
    // Each was a 500: jsonb refuses NUL and unpaired surrogates; structuredClone overflowed the stack.
    const raws: Array<[string, string, string]> = [
      [JSON.stringify({ ...GOOD, scenes: [{ narration: "a\u0000b", image_prompt: "p" }] }), "invalid_text", "/scenes/0/narration"],
      [JSON.stringify({ ...GOOD, title: "\u0000" }), "invalid_text", "/title"],
      [`{"narration_audio":"${KEY}","scenes":[{"narration":"a\\ud800b","image_prompt":"p"}]}`, "invalid_text", "/scenes/0/narration"],
      [`{"narration_audio":"${KEY}","scenes":[{"narration":"a\\udc00","image_prompt":"p"}]}`, "invalid_text", "/scenes/0/narration"],
      [`{"narration_audio":"${KEY}","scenes":${"[".repeat(50_000)}${"]".repeat(50_000)}}`, "too_deep", ""],
      [`{"x":${'{"a":'.repeat(50_000)}1${"}".repeat(50_000)}}`, "too_deep", ""],
    ];
    for (const [raw, code, path] of raws) {
      const r = await call("POST", "/v1/renders", { raw });
      assert.equal(r.status, 400, raw.slice(0, 120));
      assert.equal(r.body.error.code, code, JSON.stringify(r.body).slice(0, 300));
      if (path) assert.ok(r.body.error.details.some((d: { path: string }) => d.path === path), JSON.stringify(r.body.error.details));
    }
    const paired = await call("POST", "/v1/renders", { body: { ...GOOD, title: "🎬 Привет 日本" } });
    assert.equal(paired.status, 202, "well-formed unicode (surrogate pairs included) is fine");
    assert.equal(paired.body.request.title, "🎬 Привет 日本");
    // 100k wrong items answered with 100k details (~36x the request): now capped, still counted.
    const flood = await call("POST", "/v1/renders", { body: { ...GOOD, scenes: Array(100_000).fill(1) } });
    assert.equal(flood.status, 400);
    assert.ok(flood.body.error.details.length <= 20, `${flood.body.error.details.length} details`);
    assert.match(flood.body.error.message, /\(\+100\d{3} more\)/);
  });

  test("a caller without a valid token gets 401 before its body is looked at", async () => {
    const bad = await call("POST", "/v1/renders", { token: null, raw: "{not json" });
    assert.deepEqual([bad.status, bad.body.error.code], [401, "unauthorized"]);
    const big = await call("POST", "/v1/renders", { token: "nope", raw: JSON.stringify({ ...GOOD, title: "x".repeat(2_000_000) }) });
    assert.deepEqual([big.status, big.body.error.code], [401, "unauthorized"]);
    const unknown = await call("GET", "/v1/nothing-here", { token: null });
    assert.deepEqual([unknown.status, unknown.body.error.code], [401, "unauthorized"]);
  });

  test("URLs refused before routing answer in the API's error shape", async () => {
    const pct = await call("GET", "/v1/renders/%zz");
    assert.deepEqual([pct.status, pct.body.error.code], [400, "bad_url"]);
    const long = await call("GET", `/v1/renders/${"a".repeat(500)}`);
    assert.deepEqual([long.status, long.body.error.code], [404, "not_found"]);
  });

  test("an idempotent replay shows the render's steps, as GET does", async () => {
    const h = { "idempotency-key": "replay-steps" };
    const a = await call("POST", "/v1/renders", { body: GOOD, headers: h });
    await saveStep(db, a.body.id, "align", { status: "running", backend: "inhouse", compute_job_id: "job-r" });
    const b = await call("POST", "/v1/renders", { body: GOOD, headers: h });
    assert.equal(b.status, 200);
    assert.deepEqual(b.body.steps, (await call("GET", `/v1/renders/${a.body.id}`)).body.steps);
    assert.equal(b.body.steps.length, 1);
  });

  test("DELETE answers while the compute cancel is unanswered, and when its backend is not configured here", { timeout: 8000 }, async () => {
    // A compute plane that holds every request until told to answer (a hung Railway/Modal).
    const held: ServerResponse[] = [];
    let seen!: () => void;
    const cancelSeen = new Promise<void>((r) => (seen = r));
    const hung = createServer((req, res) => {
      held.push(res);
      if (req.method === "DELETE") seen();
    });
    await new Promise<void>((r) => hung.listen(0, "127.0.0.1", r));
    const hungRouter = new Router({ inhouse: new ComputeClient({ name: "inhouse", baseUrl: `http://127.0.0.1:${(hung.address() as { port: number }).port}` }) });
    const api = buildApi({ db, router: hungRouter, metrics, log: (await import("../log.ts")).log, tokens: parseTokens("tok-alice:alice") });
    const apiBase = await api.listen({ host: "127.0.0.1", port: 0 });
    const running = async (backend: "inhouse" | "modal") => {
      const r = await call("POST", "/v1/renders", { body: GOOD });
      await db.query(`update render_jobs set status = 'running', locked_by = 'w1', locked_until = now() + interval '1 minute' where id = $1`, [r.body.id]);
      await saveStep(db, r.body.id, "align", { status: "running", backend, compute_job_id: `job-${backend}` });
      return r.body.id as string;
    };
    try {
      const id = await running("inhouse");
      const d = await fetch(`${apiBase}/v1/renders/${id}`, { method: "DELETE", headers: { authorization: "Bearer tok-alice" } });
      assert.equal(d.status, 200);
      assert.equal(((await d.json()) as { status: string }).status, "cancelled");
      await cancelSeen; // the cascade still went out
      // No Modal on this replica (the API-only role), a step on Modal: was a 500 after the cancel committed.
      const onModal = await running("modal");
      const m = await call("DELETE", `/v1/renders/${onModal}`);
      assert.deepEqual([m.status, m.body.status], [200, "cancelled"]);
    } finally {
      for (const res of held) res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ id: "job-inhouse", status: "cancelled" }));
      await api.close();
      await new Promise((r) => hung.close(r));
    }
  });

  test("an event stream whose database fails ends with an error event instead of hanging", { timeout: 8000 }, async () => {
    let failing = false;
    const flaky: Db = { ...db, kind: db.kind, query: (text, params) => (failing ? Promise.reject(new Error("connection lost")) : db.query(text, params)) };
    const api = buildApi({ db: flaky, router, metrics, log: (await import("../log.ts")).log, tokens: parseTokens("tok-alice:alice"), eventsPollMs: 20 });
    const apiBase = await api.listen({ host: "127.0.0.1", port: 0 });
    try {
      const r = await call("POST", "/v1/renders", { body: GOOD });
      const res = await fetch(`${apiBase}/v1/renders/${r.body.id}/events`, { headers: { authorization: "Bearer tok-alice" } });
      const reader = res.body!.getReader();
      const dec = new TextDecoder();
      let text = dec.decode((await reader.read()).value);
      assert.match(text, /event: render\n/);
      failing = true;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += dec.decode(value);
      }
      assert.match(text, /event: error\ndata: \{"error":\{"code":"internal".*"retryable":true\}\}/);
    } finally {
      failing = false;
      await api.close();
    }
  });

  test("HEAD on an event stream is a 404, not a connection held until the render ends", { timeout: 8000 }, async () => {
    const r = await call("POST", "/v1/renders", { body: GOOD });
    const h = await fetch(`${base}/v1/renders/${r.body.id}/events`, { method: "HEAD", headers: { authorization: "Bearer tok-alice" } });
    assert.equal(h.status, 404);
  });

  /** A render of alice's marked succeeded with a result whose video and caption file URLs were signed by `publisher` now. */
  async function succeeded(publisher: Publisher): Promise<{ id: string; key: string; recorded: string }> {
    const r = await call("POST", "/v1/renders", { body: GOOD });
    const key = `renders/alice/${r.body.id}.mp4`;
    const recorded = await publisher.signedUrl(key);
    const video = { key, sha256: "b".repeat(64), size: 1234, content_type: "video/mp4", url: recorded };
    const source = { key: "artifacts/sha256/bb/" + "b".repeat(64) + ".mp4", sha256: "b".repeat(64), size: 1234, content_type: "video/mp4" };
    const caption = async (ext: string, content_type: string) => {
      const k = `renders/alice/${r.body.id}.${ext}`;
      return { key: k, sha256: "c".repeat(64), size: 99, content_type, url: await publisher.signedUrl(k) };
    };
    const subtitles = { srt: await caption("srt", "application/x-subrip"), vtt: await caption("vtt", "text/vtt") };
    const result = { video, source, duration_ms: 2000, captions: 2, subtitles, degraded: false };
    await db.query(`update render_jobs set status = 'succeeded', step = null, result = $2::jsonb where id = $1`, [r.body.id, JSON.stringify(result)]);
    return { id: r.body.id, key, recorded };
  }

  test("a succeeded render's video and caption file URLs are signed afresh on every read (GET, events, list), and the row is not written", async () => {
    const secret = "view-test-secret";
    const TTL = 60;
    let now = 1_900_000_000; // the publisher's clock (unix seconds), moved by hand
    const publisher = new LocalPublisher("/nonexistent-store", "http://compute.test", () => secret, TTL, () => now);
    const api = buildApi({ db, router, metrics, log: (await import("../log.ts")).log, tokens: parseTokens("tok-alice:alice"), eventsPollMs: 20, publisher });
    const apiBase = await api.listen({ host: "127.0.0.1", port: 0 });
    try {
      const { id, key, recorded } = await succeeded(publisher);
      const stored = await db.query(`select result, updated_at from render_jobs where id = $1`, [id]);
      const check = (url: string, k = key) => {
        const u = new URL(url);
        assert.equal(u.origin + u.pathname, `http://compute.test/v1/artifacts/${k}`);
        return { exp: Number(u.searchParams.get("exp")), verdict: verify(secret, k, u.searchParams.get("exp"), u.searchParams.get("sig"), now) };
      };
      type Ref = { key: string; url: string };
      /** The caption files' URLs are as fresh as the video's. */
      const checkSubtitles = (subtitles: { srt: Ref; vtt: Ref }) => {
        for (const [ext, ref] of [["srt", subtitles.srt], ["vtt", subtitles.vtt]] as const) {
          assert.equal(ref.key, key.replace(/\.mp4$/, `.${ext}`));
          assert.deepEqual(check(ref.url, ref.key), { exp: now + TTL, verdict: "ok" }, ext);
        }
      };
      now += 7 * 24 * 3600; // a week later: the recorded URL has expired
      assert.equal(check(recorded).verdict, "signature_expired");

      const g = await fetch(`${apiBase}/v1/renders/${id}`, { headers: { authorization: "Bearer tok-alice" } });
      assert.equal(g.status, 200);
      const view = await g.json() as { status: string; result: { video: Record<string, unknown> & { url: string }; source: unknown; duration_ms: number; subtitles: { srt: Ref; vtt: Ref } } };
      assert.equal(view.status, "succeeded");
      assert.deepEqual(check(view.result.video.url), { exp: now + TTL, verdict: "ok" });
      checkSubtitles(view.result.subtitles);
      const { url: _u, ...rest } = view.result.video;
      assert.deepEqual(rest, { key, sha256: "b".repeat(64), size: 1234, content_type: "video/mp4" });
      assert.equal(view.result.duration_ms, 2000);

      now += 3600;
      const res = await fetch(`${apiBase}/v1/renders/${id}/events`, { headers: { authorization: "Bearer tok-alice" } });
      const text = await res.text(); // a terminal render: one event, then end
      const data = /event: render\ndata: (.*)\n/.exec(text)?.[1];
      assert.ok(data, text);
      assert.deepEqual(check((JSON.parse(data) as typeof view).result.video.url), { exp: now + TTL, verdict: "ok" });
      checkSubtitles((JSON.parse(data) as typeof view).result.subtitles);

      now += 3600;
      const l = await fetch(`${apiBase}/v1/renders?status=succeeded&limit=100`, { headers: { authorization: "Bearer tok-alice" } });
      const item = ((await l.json()) as { data: Array<typeof view & { id: string }> }).data.find((d) => d.id === id)!;
      assert.deepEqual(check(item.result.video.url), { exp: now + TTL, verdict: "ok" }, "in a page of the list too");
      checkSubtitles(item.result.subtitles);

      assert.deepEqual(await db.query(`select result, updated_at from render_jobs where id = $1`, [id]), stored, "reads wrote nothing");
    } finally {
      await api.close();
    }
  });

  /** An API for alice whose video URLs are re-signed by `publisher`. */
  const servedWith = async (publisher: Publisher, extra: Partial<ApiDeps> = {}) => {
    const api = buildApi({ db, router, metrics, log: (await import("../log.ts")).log, tokens: parseTokens("tok-alice:alice"), publisher, ...extra });
    return { api, apiBase: await api.listen({ host: "127.0.0.1", port: 0 }) };
  };
  /** GET /v1/renders/:id, and the render in GET /v1/renders, both with the recorded URL. */
  const assertServesRecordedUrl = async (apiBase: string, id: string, recorded: string) => {
    const g = await fetch(`${apiBase}/v1/renders/${id}`, { headers: { authorization: "Bearer tok-alice" } });
    assert.equal(g.status, 200);
    assert.equal(((await g.json()) as { result: { video: { url: string } } }).result.video.url, recorded);
    const l = await fetch(`${apiBase}/v1/renders?status=succeeded&limit=100`, { headers: { authorization: "Bearer tok-alice" } });
    assert.equal(l.status, 200);
    const item = ((await l.json()) as { data: Array<{ id: string; result: { video: { url: string } } }> }).data.find((d) => d.id === id);
    assert.equal(item?.result.video.url, recorded, "the list serves the recorded URL too");
  };

  test("when re-signing fails, a succeeded render is still served, with its recorded URL", async () => {
    const local = new LocalPublisher("/nonexistent-store", "http://compute.test", () => "s", 60);
    const failing: Publisher = {
      kind: "supabase", publish: () => Promise.reject(new Error("unused")),
      signedUrl: () => Promise.reject(new Error("storage down")), signedUrls: () => Promise.reject(new Error("storage down")),
      remove: () => Promise.reject(new Error("unused")),
    };
    const { api, apiBase } = await servedWith(failing);
    try {
      const { id, recorded } = await succeeded(local);
      await assertServesRecordedUrl(apiBase, id, recorded);
    } finally {
      await api.close();
    }
  });

  test("a storage API that never answers re-signing does not hang reads: the recorded URL is served", { timeout: 8000 }, async () => {
    const local = new LocalPublisher("/nonexistent-store", "http://compute.test", () => "s", 60);
    const hung: Publisher = {
      kind: "supabase", publish: () => Promise.reject(new Error("unused")),
      signedUrl: () => new Promise<string>(() => {}), signedUrls: () => new Promise<never>(() => {}),
      remove: () => Promise.reject(new Error("unused")),
    };
    const { api, apiBase } = await servedWith(hung, { resignTimeoutMs: 50, eventsPollMs: 20 });
    try {
      const { id, recorded } = await succeeded(local);
      await assertServesRecordedUrl(apiBase, id, recorded);
      const ev = await (await fetch(`${apiBase}/v1/renders/${id}/events`, { headers: { authorization: "Bearer tok-alice" } })).text();
      assert.match(ev, /event: end\ndata: \{"status":"succeeded"\}/);
    } finally {
      await api.close();
    }
  });

  test("health and metrics", async () => {
    const h = await call("GET", "/health", { token: null });
    assert.equal(h.body.status, "ok");
    assert.equal(h.body.backends.inhouse.breaker, "closed");
    assert.ok(!JSON.stringify(h.body).includes("127.0.0.1"), "no token, so no compute plane addresses");
    const m = await fetch(`${base}/metrics`);
    assert.match(await m.text(), /canvascast_breaker_state/);
  });

  test("health is 503 when the database errors or does not answer (a deploy check must not pass it)", async () => {
    const log = (await import("../log.ts")).log;
    const broken = { ...db, query: () => Promise.reject(new Error("connection refused")) } as unknown as Db;
    const silent = { ...db, query: () => new Promise<never>(() => undefined) } as unknown as Db;
    for (const d of [broken, silent]) {
      const api = buildApi({ db: d, router, metrics, log, tokens: parseTokens("tok-alice:alice"), healthTimeoutMs: 100 });
      try {
        const r = await api.inject({ method: "GET", url: "/health" });
        assert.equal(r.statusCode, 503);
        assert.equal(r.json().status, "unavailable");
      } finally {
        await api.close();
      }
    }
  });

  test("one owner's open event streams are capped; closing one frees its place", { timeout: 10_000 }, async () => {
    const api = buildApi({ db, router, metrics, log: (await import("../log.ts")).log, tokens: parseTokens("tok-alice:alice,tok-bob:bob"), eventsPollMs: 20, maxStreamsPerOwner: 2 });
    const apiBase = await api.listen({ host: "127.0.0.1", port: 0 });
    const id = (await call("POST", "/v1/renders", { body: GOOD })).body.id as string;
    const open = (token: string) => {
      const ac = new AbortController();
      return { ac, res: fetch(`${apiBase}/v1/renders/${id}/events`, { headers: { authorization: `Bearer ${token}` }, signal: ac.signal }) };
    };
    const streams = [open("tok-alice"), open("tok-alice")];
    try {
      for (const s of streams) assert.equal((await s.res).status, 200);
      const third = await (await open("tok-alice")).res;
      assert.equal(third.status, 429);
      assert.deepEqual(((await third.json()) as { error: { code: string; retryable: boolean } }).error, {
        code: "too_many_streams", message: "at most 2 event streams per owner are open at once; close one or poll GET /v1/renders/:id", retryable: true,
      });
      assert.equal(third.headers.get("retry-after"), "5");
      assert.equal((await open("tok-bob").res).status, 404, "the cap is per owner: bob is not refused for alice's streams");
      streams[0]!.ac.abort();
      for (;;) { // the server sees the close asynchronously
        const again = open("tok-alice");
        const r = await again.res;
        if (r.status === 200) {
          again.ac.abort();
          break;
        }
        assert.equal(r.status, 429);
        await r.body?.cancel();
      }
    } finally {
      for (const s of streams) s.ac.abort();
      await api.close();
    }
  });
});
