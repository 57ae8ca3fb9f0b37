/**
 * Property-based fuzz of the worker's public HTTP API (fast-check, fixed seed), over real HTTP
 * on 127.0.0.1. Whatever a client sends (any JSON, a valid request with fields broken, raw
 * bytes, any list query, any path segment, any Authorization header) the answer is either a
 * success in the contract's shape or a 4xx in the API's error shape,
 * `{"error": {"code", "message", "retryable", "details"?}}`, with a code from the README's
 * error table: never a 5xx, never another body, never a hang (each request is aborted after
 * REQUEST_TIMEOUT_MS), and an event stream never opens for a render the caller cannot see.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { after, before, describe, test, type TestContext } from "node:test";
import Ajv2020Import from "ajv/dist/2020.js";
import fc, { type Arbitrary } from "fast-check";
import { SignJWT } from "jose";
import { ComputeClient } from "../client/modal-client.ts";
import type { Db } from "../db/db.ts";
import { migrate } from "../db/migrate.ts";
import { openPglite } from "../db/pglite.ts";
import { log } from "../log.ts";
import { Metrics } from "../metrics.ts";
import { RENDER_STATUSES } from "../queue/index.ts";
import { Router } from "../router/index.ts";
import { OWNER_RE, parseTokens } from "./auth.ts";
import { createJwtVerifier } from "./jwt.ts";
import { encodeCursor } from "./listQuery.ts";
import { buildApi } from "./server.ts";

const SEED = 42;
const REQUEST_TIMEOUT_MS = 5_000;
const PROPERTY_TIMEOUT_MS = 60_000;

const Ajv2020 = Ajv2020Import as unknown as typeof Ajv2020Import.default;
const schema = (name: string) => JSON.parse(readFileSync(new URL(`../../../../packages/shared-types/schema/${name}.json`, import.meta.url), "utf8"));
const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
const validRender = ajv.compile(schema("Render"));
const validRenderList = ajv.compile(schema("RenderList"));

const KEY = "artifacts/sha256/aa/" + "a".repeat(64) + ".wav";
const GOOD = { narration_audio: KEY, scenes: [{ narration: "Hello there.", image_prompt: "a hello" }] };
/** Every field of a RenderRequest, all valid: the base whose fields the mutations break. */
const FULL = {
  narration_audio: KEY, title: "A title", owner: "alice", fps: 30, height: 720, aspect_ratio: "16:9", language: "en",
  music: "https://example.com/music.mp3", music_volume: 0.25,
  style: { art_style: "flat vector illustration", aspect_ratio: "16:9", avoid: ["text"], palette: ["#1f6feb"] },
  scenes: [{ narration: "Hello there.", image_prompt: "a hello" }, { narration: "Bye.", image: "https://example.com/i.png" }],
};

// JWTs (legacy HS256) besides the static tokens, so malformed and mis-claimed JWTs are fuzzed too.
const JWT_SECRET = "fuzz-jwt-secret-that-is-long-enough-0123456789";
const ISSUER = "https://fuzz.supabase.co/auth/v1";
const AUDIENCE = "authenticated";
const TOLERANCE_S = 30;

// ---- the README's error table ------------------------------------------------------------

const VALIDATION_CODES = [
  "validation_error", "missing_field", "unknown_field", "wrong_type", "invalid_value", "too_short", "too_long", "too_few",
  "too_many", "invalid_format", "out_of_range", "image_source", "invalid_reference", "foreign_reference", "unsafe_url", "invalid_text", "too_deep",
] as const;
/** Every documented 4xx code and its status. (500 internal and 503 auth_unavailable are never acceptable here.) */
const CODE_STATUS: Record<string, number> = {
  ...Object.fromEntries(VALIDATION_CODES.map((c) => [c, 400])),
  malformed_json: 400, invalid_idempotency_key: 400, invalid_query: 400, bad_url: 400,
  unauthorized: 401, invalid_token: 401, token_expired: 401,
  owner_mismatch: 403, not_found: 404, idempotency_conflict: 409, payload_too_large: 413,
  unsupported_media_type: 415, too_many_streams: 429,
};
const AUTH_CODES = ["unauthorized", "invalid_token", "token_expired"];
const POST_CODES = [...VALIDATION_CODES, "malformed_json", "invalid_idempotency_key", "owner_mismatch", "idempotency_conflict", "payload_too_large"];
const QUERY_DETAIL_CODES = ["out_of_range", "repeated", "invalid_cursor", "invalid_value", "unknown_parameter"];
/**
 * Not in the README's table: what server.ts's clientErrorHandler answers when Node's HTTP parser
 * refuses a request before any route, here a URL or headers over 16 KiB (fastify's default
 * answered `{"error": "Request Header Fields Too Large", "statusCode": 431}`, not the API's shape).
 */
const CLIENT_CODES: Record<string, number> = { headers_too_large: 431 };

// ---- HTTP ---------------------------------------------------------------------------------

interface Res {
  status: number;
  headers: Headers;
  text: string;
  body: unknown;
  /** An event stream opened (and was closed by us at once). */
  stream: boolean;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const short = (s: string, n = 300) => (s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s);

describe("HTTP API fuzz (fast-check)", () => {
  let db: Db;
  let base: string;
  let app: ReturnType<typeof buildApi>;
  /** Renders that exist: alice's (a path fuzz may GET, DELETE or stream them) and bob's (404 to alice). */
  const aliceIds: string[] = [];
  const bobIds: string[] = [];

  before(async () => {
    db = await openPglite();
    await migrate(db);
    const router = new Router({ inhouse: new ComputeClient({ name: "inhouse", baseUrl: "http://127.0.0.1:9" }) });
    const jwt = createJwtVerifier({ secret: JWT_SECRET, issuer: ISSUER, audience: AUDIENCE, clockToleranceS: TOLERANCE_S, jwksTimeoutMs: 1000 }, log);
    app = buildApi({ db, router, metrics: new Metrics(), log, tokens: parseTokens("tok-alice:alice,tok-bob:bob"), jwt, eventsPollMs: 20 });
    base = await app.listen({ host: "127.0.0.1", port: 0 });
    for (const [token, ids, n] of [["tok-alice", aliceIds, 3], ["tok-bob", bobIds, 2]] as const) {
      for (let i = 0; i < n; i++) {
        const r = await send("POST", "/v1/renders", { auth: `Bearer ${token}`, body: JSON.stringify({ ...GOOD, title: `seed ${i}` }) });
        assert.equal(r.status, 202, r.text);
        ids.push((r.body as { id: string }).id);
      }
    }
    // Renders in every status, so list filters and cursors have something to page through.
    for (const [i, status] of RENDER_STATUSES.entries()) {
      const r = await send("POST", "/v1/renders", { body: JSON.stringify({ ...GOOD, title: `status ${status}` }) });
      await db.query(`update render_jobs set status = $2, created_at = created_at - ($3 || ' seconds')::interval where id = $1`, [(r.body as { id: string }).id, status, String(i)]);
    }
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  /** What the fuzzed requests got, by status and error code (reported per property as a test diagnostic). */
  const tally = new Map<string, number>();
  const record = (r: Res) => {
    const code = r.status >= 400 && isObj(r.body) && isObj(r.body.error) ? ` ${String(r.body.error.code)}` : r.stream ? " stream" : "";
    tally.set(`${r.status}${code}`, (tally.get(`${r.status}${code}`) ?? 0) + 1);
    return r;
  };

  async function send(method: string, path: string, opts: { auth?: string | null; body?: string | Uint8Array; headers?: Record<string, string>; quiet?: boolean } = {}): Promise<Res> {
    const headers = new Headers(opts.headers);
    const auth = opts.auth === undefined ? "Bearer tok-alice" : opts.auth;
    if (auth !== null) headers.set("authorization", auth);
    if (opts.body !== undefined) headers.set("content-type", "application/json");
    const ctrl = new AbortController();
    const r = await fetch(base + path, { method, headers, body: opts.body ?? null, signal: AbortSignal.any([ctrl.signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]) });
    if ((r.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
      ctrl.abort(); // a stream that opened is closed at once (the server's poll loop ends on close)
      await r.body?.cancel().catch(() => {});
      const res = { status: r.status, headers: r.headers, text: "", body: undefined, stream: true };
      return opts.quiet ? res : record(res);
    }
    const text = await r.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    const res = { status: r.status, headers: r.headers, text, body, stream: false };
    return opts.quiet ? res : record(res);
  }

  /** A 4xx in the API's error shape whose code is documented (with that status) and one of `allowed`. */
  function assertError(r: Res, allowed: readonly string[], what: string): string {
    const ctx = `${what} -> ${r.status} ${short(r.text)}`;
    assert.ok(r.status >= 400 && r.status < 500, `not a 4xx: ${ctx}`);
    assert.ok(!r.stream, `an event stream opened: ${ctx}`);
    assert.match(r.headers.get("content-type") ?? "", /^application\/json/, `not JSON: ${ctx}`);
    assert.ok(isObj(r.body) && Object.keys(r.body).join() === "error", `not {error}: ${ctx}`);
    const e = r.body.error;
    assert.ok(isObj(e), `error is not an object: ${ctx}`);
    assert.ok(Object.keys(e).every((k) => ["code", "message", "retryable", "details"].includes(k)), `unexpected keys: ${ctx}`);
    assert.equal(typeof e.code, "string", ctx);
    assert.equal(typeof e.message, "string", ctx);
    assert.equal(typeof e.retryable, "boolean", ctx);
    const code = e.code as string;
    assert.ok(allowed.includes(code) || code in CLIENT_CODES, `code ${code} not expected here: ${ctx}`);
    assert.equal(CODE_STATUS[code] ?? CLIENT_CODES[code], r.status, `status of ${code}: ${ctx}`);
    if (e.details !== undefined) {
      assert.ok(Array.isArray(e.details) && e.details.length <= 20, `details: ${ctx}`);
      for (const d of e.details) {
        assert.ok(isObj(d) && typeof d.path === "string" && typeof d.code === "string" && typeof d.message === "string", `detail: ${ctx}`);
        if (code === "invalid_query") assert.ok(QUERY_DETAIL_CODES.includes(d.code as string), `query detail code ${String(d.code)}: ${ctx}`);
        else if ((VALIDATION_CODES as readonly string[]).includes(code)) assert.ok((VALIDATION_CODES as readonly string[]).includes(d.code as string), `detail code ${String(d.code)}: ${ctx}`);
      }
    }
    if (r.status === 401) assert.match(r.headers.get("www-authenticate") ?? "", /^Bearer( error="invalid_token")?$/, `401 without its challenge: ${ctx}`);
    return code;
  }

  /** `want` (what was sent, parsed) is contained in `got` (what the API stored): defaults may be added, nothing changed. */
  function assertContained(want: unknown, got: unknown, path: string): void {
    if (Array.isArray(want)) {
      assert.ok(Array.isArray(got) && got.length === want.length, `${path}: ${short(JSON.stringify(got) ?? "")}`);
      want.forEach((w, i) => assertContained(w, got[i], `${path}/${i}`));
    } else if (isObj(want)) {
      assert.ok(isObj(got), path);
      for (const k of Object.keys(want)) if (!(path === "" && k === "owner")) assertContained(want[k], got[k], `${path}/${k}`);
    } else {
      assert.deepEqual(got, want, path);
    }
  }

  let accepted = 0;
  /** POST a body: accepted (202/200, and GET answers it with the same owner) or a documented 4xx. */
  async function checkPost(body: string | Uint8Array, headers?: Record<string, string>): Promise<void> {
    const r = await send("POST", "/v1/renders", { body, ...(headers ? { headers } : {}) });
    const what = `POST ${short(typeof body === "string" ? body : `bytes ${Buffer.from(body).toString("hex")}`, 200)}`;
    if (r.status !== 202 && r.status !== 200) {
      assertError(r, POST_CODES, what);
      return;
    }
    accepted++;
    const ctx = `${what} -> ${r.status} ${short(r.text)}`;
    assert.ok(isObj(r.body) && typeof r.body.id === "string", ctx);
    assert.ok(validRender(r.body), `not a Render: ${ctx} ${JSON.stringify(validRender.errors)}`);
    assert.equal(r.body.owner, "alice", ctx);
    assert.equal(r.headers.get("location"), `/v1/renders/${r.body.id}`, ctx);
    const g = await send("GET", `/v1/renders/${r.body.id}`, { quiet: true });
    assert.equal(g.status, 200, `GET after ${ctx}: ${short(g.text)}`);
    assert.ok(isObj(g.body) && validRender(g.body), short(g.text));
    assert.equal(g.body.id, r.body.id);
    assert.equal(g.body.owner, "alice");
    assert.equal((g.body.request as { owner?: unknown }).owner, "alice");
    if (typeof body === "string" && r.status === 202) {
      // What was accepted is what is stored (defaults added, nothing changed).
      assertContained(JSON.parse(body), g.body.request, "");
    }
  }

  // ---- generators ---------------------------------------------------------------------------

  /** One UTF-16 unit or code point: well-formed, lone surrogates, NUL, BOM, bidi, line separators, JSON metacharacters. */
  const weirdChar = fc.oneof(
    { weight: 4, arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 1 }) },
    { weight: 3, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) },
    { weight: 2, arbitrary: fc.constantFrom("\u0000", "\ud800", "\udbff", "\udc00", "\udfff", "\ufeff", "\u202e", "\u2028", "\u0085", "\uffff", "\ufffd", "😀", "\\", "\"", "/", "%", "~", " ") },
  );
  const weirdString = fc.string({ unit: weirdChar, maxLength: 40 });
  /** What fetch can put in a header value: tab, printable ASCII and latin-1 (no NUL, CR, LF or other controls). */
  const headerChar = fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
    { weight: 1, arbitrary: fc.integer({ min: 0x80, max: 0xff }) },
    { weight: 1, arbitrary: fc.constant(0x09) },
  ).map((c) => String.fromCharCode(c));
  const headerString = (maxLength: number) => fc.string({ unit: headerChar, maxLength });

  const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
  const pctBytes = (b: Uint8Array) => Array.from(b, (x) => (UNRESERVED.test(String.fromCharCode(x)) ? String.fromCharCode(x) : `%${x.toString(16).toUpperCase().padStart(2, "0")}`)).join("");
  /** Percent-encoded UTF-8 (a lone surrogate becomes U+FFFD, as any client would send it). */
  const pct = (s: string) => pctBytes(new TextEncoder().encode(s));
  const b64url = (s: string | Uint8Array) => Buffer.from(s).toString("base64url");

  /** A JSON fragment inserted verbatim where a value goes (deep nesting, 1e999, ...). */
  class Raw {
    constructor(readonly json: string) {}
  }
  const SENTINEL = "\u0001raw\u0001";
  /** JSON text of a value that may hold Raw fragments. */
  function serialize(v: unknown): string {
    const raws: string[] = [];
    const text = JSON.stringify(v, (_k, x: unknown) => (x instanceof Raw ? `${SENTINEL}${raws.push(x.json) - 1}${SENTINEL}` : x)) ?? "null";
    return text.replace(/"\\u0001raw\\u0001(\d+)\\u0001raw\\u0001"/g, (_m, i: string) => raws[Number(i)]!);
  }

  type Path = Array<string | number>;
  const DELETE = Symbol("delete");
  /** A copy of `target` with `path` set to `value` (or deleted); containers on the way are copied or made. */
  function setIn(target: unknown, path: Path, value: unknown): unknown {
    if (path.length === 0) return value;
    const [k, ...rest] = path as [string | number, ...Path];
    const c: Record<string | number, unknown> | unknown[] = typeof k === "number" ? (Array.isArray(target) ? [...target] : []) : isObj(target) ? { ...target } : {};
    const next = setIn((c as Record<string | number, unknown>)[k], rest, value);
    if (next === DELETE) {
      if (Array.isArray(c) && typeof k === "number") c.splice(k, 1);
      else delete (c as Record<string, unknown>)[k];
    } else {
      // defineProperty: `__proto__` as a key is a key, not the prototype.
      Object.defineProperty(c, k, { value: next, enumerable: true, writable: true, configurable: true });
    }
    return c;
  }

  const FIELD_PATHS: Path[] = [
    ["narration_audio"], ["scenes"], ["title"], ["owner"], ["fps"], ["height"], ["aspect_ratio"], ["language"], ["music"], ["music_volume"], ["style"],
    ["style", "art_style"], ["style", "aspect_ratio"], ["style", "avoid"], ["style", "avoid", 0], ["style", "palette"], ["style", "palette", 0],
    ["scenes", 0], ["scenes", 1], ["scenes", 0, "narration"], ["scenes", 0, "image_prompt"], ["scenes", 0, "image"], ["scenes", 1, "image"],
  ];
  const OBJECT_PATHS: Path[] = [[], ["style"], ["scenes", 0]];

  const wrongType = fc.oneof(
    fc.constant(null), fc.boolean(), fc.integer(), fc.double(), fc.constant([]), fc.constant({}), fc.string(),
    fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }),
    fc.dictionary(weirdString, fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
    fc.jsonValue({ maxDepth: 3 }),
  );
  const outOfRange = fc.oneof(
    fc.constantFrom(-1, 0, 1, 2, 23, 29, 31, 61, 359, 1081, 0.5, -0.0001, 1.0000001, 2 ** 31, 2 ** 53 + 2, 1e308, -1e308, Number.MIN_VALUE),
    fc.double({ noNaN: true }),
    fc.integer({ min: -1_000_000, max: 1_000_000 }),
    fc.constantFrom("1e999", "-1e999", "1E400", "-0", "30.0", "3e1", "0.25e0", "123456789012345678901234567890", "1e-400", "0.30000000000000004").map((s) => new Raw(s)),
  );
  const huge = fc.oneof(
    fc.tuple(fc.constantFrom("a", " ", "é", "😀", "日"), fc.constantFrom(9, 201, 2001, 4097, 5001, 50_000, 300_000, 1_100_000)).map(([c, n]) => c.repeat(n)),
    // Characters JSON escapes to six bytes: bounded so the body stays a few MB.
    fc.tuple(fc.constantFrom("\u0000", "\ud800", "\u0001"), fc.constantFrom(1, 201, 5001, 200_000)).map(([c, n]) => c.repeat(n)),
    fc.integer({ min: 0, max: 120 }).map((n) => Array.from({ length: n }, (_, i) => ({ narration: `scene ${i}`, image_prompt: "p" }))),
  );
  const validish = fc.constantFrom<unknown>(
    KEY, "https://example.com/a.wav", "http://example.com/a.wav", "https://u:p@example.com/a", "ftp://example.com/a", "artifacts/sha256/aa/x.wav",
    "../../etc/passwd", "", " ", "16:9", "9:16", "1:1", "4:3", 24, 25, 30, 60, 360, 480, 720, 1080, 0, 1, 0.25, "en", "#1f6feb", "#GGGGGG",
    "alice", "bob", null, [], ["text"], { narration: "x", image_prompt: "p" }, { narration: "x" }, { narration: "x", image: KEY },
    { narration: "x", image_prompt: "p", image: KEY }, { narration: "\t\n ", image_prompt: "p" },
  );
  const unicodeText = fc.oneof(weirdString, fc.tuple(fc.constantFrom(KEY, "https://example.com/", "artifacts/", "alice"), weirdString).map(([a, b]) => a + b));
  const CLOSE: Record<string, string> = { "[": "]", '{"a":': "}", '[{"a":': "}]" };
  const deep = fc.tuple(
    fc.constantFrom("[", '{"a":', '[{"a":'),
    fc.oneof(fc.integer({ min: 1, max: 40 }), fc.constantFrom(14, 15, 16, 17, 1000, 10_000, 100_000)),
  ).map(([open, n]) => new Raw(open.repeat(n) + (open === "[" ? "" : "1") + CLOSE[open]!.repeat(n)));
  const value = fc.oneof(wrongType, outOfRange, huge, validish, unicodeText, deep);

  type Mutation = { op: "set" | "add"; path: Path; value: unknown } | { op: "delete"; path: Path };
  const mutation: Arbitrary<Mutation> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ op: fc.constant("set" as const), path: fc.constantFrom(...FIELD_PATHS), value }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant("delete" as const), path: fc.constantFrom(...FIELD_PATHS) }) },
    {
      weight: 2,
      arbitrary: fc.record({
        at: fc.constantFrom(...OBJECT_PATHS),
        key: fc.oneof(weirdString, fc.constantFrom("__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "", "narration_audio ", "Narration_Audio", "scenes\u0000", "\ud800")),
        value,
      }).map(({ at, key, value }): Mutation => ({ op: "add", path: [...at, key], value })),
    },
  );
  const idempotencyKey = fc.option(fc.oneof(fc.constantFrom("k-1", "k-2", "k-3"), headerString(260)), { nil: undefined, freq: 3 });

  /** fc.assert with the fixed seed; then what the runs got, as a diagnostic (`ℹ 150 runs: 400 wrong_type ×31, ...`). */
  async function runs<T>(t: TestContext, prop: fc.IAsyncPropertyWithHooks<[T]>, numRuns: number): Promise<void> {
    tally.clear();
    await fc.assert(prop, { seed: SEED, numRuns });
    t.diagnostic(`${numRuns} runs: ${[...tally].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ×${n}`).join(", ")}`);
  }

  // ---- 1. POST /v1/renders ------------------------------------------------------------------

  test("the bases of the mutations are accepted", async () => {
    for (const b of [GOOD, FULL]) {
      const r = await send("POST", "/v1/renders", { body: JSON.stringify(b) });
      assert.equal(r.status, 202, r.text);
    }
  });

  test("POST: any JSON value is accepted or a documented 4xx", { timeout: PROPERTY_TIMEOUT_MS }, async (t) => {
    const anything = fc.anything({
      withBoxedValues: true, withMap: true, withSet: true, withDate: true, withTypedArray: true, withSparseArray: true,
      withNullPrototype: true, withObjectString: true, stringUnit: weirdChar, maxDepth: 4,
    }).map((v) => JSON.stringify(v) ?? "null");
    // Objects with the request's own keys (and others) holding any JSON: gets past the first checks.
    const keys = fc.constantFrom("narration_audio", "scenes", "title", "owner", "fps", "height", "aspect_ratio", "language", "music", "music_volume", "style", "narration", "image_prompt", "image", "x");
    const plausible = fc.dictionary(keys, fc.oneof(fc.jsonValue({ maxDepth: 3 }), validish), { maxKeys: 8 }).map((o) => JSON.stringify(o));
    const body = fc.oneof(fc.jsonValue({ maxDepth: 5, stringUnit: weirdChar }).map((v) => JSON.stringify(v)), anything, plausible);
    await runs(t, fc.asyncProperty(body, (b) => checkPost(b)), 150);
  });

  test("POST: a valid request with fields broken is accepted or a documented 4xx, and what is accepted is stored as sent", { timeout: PROPERTY_TIMEOUT_MS }, async (t) => {
    accepted = 0;
    const doc = fc.tuple(fc.constantFrom<object>(GOOD, FULL), fc.array(mutation, { minLength: 1, maxLength: 3 }))
      .map(([b, ms]) => ms.reduce<unknown>((d, m) => setIn(d, m.path, m.op === "delete" ? DELETE : m.value), b));
    await runs(t, fc.asyncProperty(fc.tuple(doc, idempotencyKey), async ([d, key]) => {
      await checkPost(serialize(d), key === undefined ? undefined : { "idempotency-key": key });
    }), 200);
    assert.ok(accepted > 0, "no mutated request was accepted: the accepted path went untested");
  });

  test("POST: raw bytes sent as application/json are accepted or a documented 4xx", { timeout: PROPERTY_TIMEOUT_MS }, async (t) => {
    const enc = (s: string) => new TextEncoder().encode(s);
    const goodText = JSON.stringify(GOOD);
    const goodBytes = enc(goodText);
    const splice = fc.tuple(fc.nat({ max: goodBytes.length }), fc.uint8Array({ maxLength: 4 }), fc.nat({ max: 8 }))
      .map(([at, ins, del]) => Uint8Array.from([...goodBytes.slice(0, at), ...ins, ...goodBytes.slice(at + del)]));
    const invalidUtf8InString = fc.uint8Array({ minLength: 1, maxLength: 6 }).map((junk) =>
      Uint8Array.from([...enc(`{"narration_audio":"${KEY}","title":"`), ...junk, ...enc(`","scenes":[{"narration":"n","image_prompt":"p"}]}`)]));
    const fixed = fc.constantFrom(
      "", " ", "\n", "null", "true", "0", "-0", "\"x\"", "[]", "{}", "{", "}", "[", "{\"a\":1,}", "{'a':1}", "NaN", "Infinity", "1e999",
      "{\"a\":1}{\"b\":2}", `\ufeff${goodText}`, `${goodText}\u0000`, `${goodText} x`, `${goodText}\n\n`, "\u0000", "{\"__proto__\":{}}",
      "{\"constructor\":{\"prototype\":{}}}", `{"narration_audio":"${KEY}","narration_audio":1,"scenes":[{"narration":"n","image_prompt":"p"}]}`,
      goodText.replace("Hello", "\\x41"), goodText.replace("Hello", "\\u12"), goodText.replace("Hello", "\\ud800\\udc00"), goodText.replace("Hello", "\t"),
    ).map(enc);
    const raw = fc.oneof(fc.uint8Array({ maxLength: 300 }), weirdString.map(enc), splice, invalidUtf8InString, fixed);
    await runs(t, fc.asyncProperty(raw, (b) => checkPost(b)), 150);
  });

  // ---- 2. GET /v1/renders?... ---------------------------------------------------------------

  test("GET /v1/renders: any query is a RenderList or 400 invalid_query; a valid one is a RenderList that obeys it", { timeout: PROPERTY_TIMEOUT_MS }, async (t) => {
    const micros = fc.tuple(fc.date({ min: new Date("1000-01-01T00:00:00Z"), max: new Date("9999-12-31T23:59:59Z"), noInvalidDate: true }), fc.integer({ min: 0, max: 999 }))
      .map(([d, us]) => d.toISOString().replace("Z", `${String(us).padStart(3, "0")}Z`));
    const validCursor = fc.tuple(micros, fc.uuid()).map(([createdAt, id]) => encodeCursor({ createdAt, id: id.toLowerCase() }));
    const garbageCursor = fc.oneof(
      fc.base64String({ maxLength: 300 }),
      fc.uint8Array({ maxLength: 200 }).map(b64url),
      fc.jsonValue({ maxDepth: 2 }).map((v) => b64url(JSON.stringify(v))),
      fc.tuple(fc.oneof(weirdString, micros, fc.constantFrom("2026-02-30T00:00:00.000000Z", "2026-01-01T24:00:00.000000Z", "0999-01-01T00:00:00.000000Z", "2026-01-01T00:00:00.000Z", "+275760-09-13T00:00:00.000000Z")), fc.oneof(fc.uuid(), weirdString))
        .map((t) => b64url(JSON.stringify(t))),
      weirdString,
      fc.integer({ min: 150, max: 4000 }).map((n) => "A".repeat(n)),
    );
    const limitValue = fc.oneof(fc.integer({ min: -5, max: 130 }).map(String), fc.integer().map(String), fc.constantFrom("", " 5", "5 ", "1.5", "1e2", "0x10", "001", "0100", "NaN", "Infinity", "٣", "２０"), weirdString);
    const statusValue = fc.oneof(
      fc.array(fc.constantFrom(...RENDER_STATUSES, "QUEUED", "", " ", "unknown", "queued ", "__proto__"), { maxLength: 4 }).map((a) => a.join(",")),
      weirdString,
    );
    const pair = (name: Arbitrary<string>, v: Arbitrary<string>) => fc.tuple(name, v).map(([n, x]) => `${pct(n)}=${pct(x)}`);
    const anyQuery = fc.array(fc.oneof(
      pair(fc.constant("limit"), limitValue),
      pair(fc.constant("cursor"), fc.oneof(validCursor, garbageCursor)),
      pair(fc.constant("status"), statusValue),
      pair(fc.oneof(weirdString, fc.constantFrom("limit[]", "status[]", "Limit", "LIMIT", "", "__proto__", "constructor", "hasOwnProperty", "toString", "limit ", "limit\u0000")), fc.oneof(weirdString, limitValue)),
      fc.constantFrom("limit", "status", "cursor", "=", "&", "%", "%zz", "%FF=%FF", "limit=%", "status=%ZZ", "a=b=c", "+", "limit=+5", "status=queued+", "status=%71ueued", "limit=1&limit=2", "cursor=a&cursor=b", ";", "limit=1;status=queued", "?", "??limit=1", "[", "]", "status=queued&status=dead"),
      fc.tuple(fc.constantFrom("limit", "cursor", "status", "x"), fc.constantFrom("9", "A", "queued,", "%FF", "a%00"), fc.integer({ min: 100, max: 3000 })).map(([n, c, k]) => `${n}=${c.repeat(k)}`),
    ), { maxLength: 6 }).map((parts) => ({ text: parts.join("&"), valid: false as const }));
    const validQuery = fc.record({
      limit: fc.option(fc.integer({ min: 1, max: 100 }), { nil: undefined }),
      status: fc.option(fc.uniqueArray(fc.constantFrom(...RENDER_STATUSES), { minLength: 1 }), { nil: undefined }),
      cursor: fc.option(validCursor, { nil: undefined }),
    }).map((q) => ({
      text: [q.limit !== undefined && `limit=${q.limit}`, q.status && `status=${q.status.join(",")}`, q.cursor && `cursor=${q.cursor}`].filter(Boolean).join("&"),
      valid: true as const, limit: q.limit ?? 20, status: q.status,
    }));
    await runs(t, fc.asyncProperty(fc.oneof(anyQuery, validQuery), async (q) => {
      const r = await send("GET", `/v1/renders?${q.text}`);
      const ctx = `GET ?${short(q.text)} -> ${r.status} ${short(r.text)}`;
      if (r.status !== 200) {
        assertError(r, ["invalid_query"], `GET ?${short(q.text)}`);
        assert.ok(!q.valid, `a valid query was refused: ${ctx}`);
        return;
      }
      assert.ok(validRenderList(r.body), `not a RenderList: ${ctx} ${JSON.stringify(validRenderList.errors)}`);
      const page = r.body as { data: Array<{ owner: string; status: string }>; has_more: boolean; next_cursor: string | null };
      assert.ok(page.data.every((d) => d.owner === "alice"), `another owner's render: ${ctx}`);
      assert.equal(page.next_cursor !== null, page.has_more, ctx);
      if ("limit" in q) {
        assert.ok(page.data.length <= q.limit, ctx);
        if (q.status) assert.ok(page.data.every((d) => q.status!.includes(d.status as (typeof RENDER_STATUSES)[number])), `status filter: ${ctx}`);
      }
    }), 200);
  });

  // ---- 3. GET/DELETE /v1/renders/:id, GET /v1/renders/:id/events ----------------------------

  test("GET/DELETE /v1/renders/:id and its events: any path segment is 404/400 in the error shape unless it names the caller's render", { timeout: PROPERTY_TIMEOUT_MS }, async (t) => {
    const segment = fc.oneof(
      { weight: 3, arbitrary: weirdString.map(pct) },
      { weight: 2, arbitrary: fc.uint8Array({ maxLength: 40 }).map(pctBytes) },
      {
        weight: 3,
        arbitrary: fc.constantFrom(
          "..", ".", "%2e%2e", "%2E", "%00", "%", "%zz", "%2F", "%5C", "a%00b", "", "null", "undefined", "__proto__", "constructor",
          "00000000-0000-0000-0000-000000000000", "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", "%F0%9F%98%80", "%ED%A0%80", "%C0%AF", "%25", "%2500",
          "~", "a;b", "a,b", "*", "$", "%20", "+",
        ),
      },
      { weight: 2, arbitrary: fc.uuid() },
      { weight: 2, arbitrary: fc.constantFrom(...aliceIds, ...bobIds) },
      { weight: 1, arbitrary: fc.constantFrom(...aliceIds, ...bobIds).map((id) => id.toUpperCase()) },
      { weight: 2, arbitrary: fc.tuple(fc.constantFrom("a", "0", "%00", "%C3%A9", "-"), fc.integer({ min: 90, max: 4000 })).map(([c, n]) => c.repeat(n)) },
      {
        weight: 2,
        arbitrary: fc.tuple(fc.uuid(), fc.constantFrom("%00", "%20", ".json", "/", "%2F", "x", "?x=1", "#x", ";x", "%0A", "%"), fc.boolean())
          .map(([u, s, before]) => (before ? s + u : u + s)),
      },
    );
    let opened = 0;
    await runs(t, fc.asyncProperty(fc.tuple(fc.constantFrom("GET", "DELETE", "EVENTS"), segment), async ([m, seg]) => {
      const path = `/v1/renders/${seg}${m === "EVENTS" ? "/events" : ""}`;
      const r = await send(m === "EVENTS" ? "GET" : m, path);
      const what = `${m} ${short(path)}`;
      if (aliceIds.includes(seg.toLowerCase())) { // UUIDs are case-insensitive: an upper-case id names the same render
        assert.equal(r.status, 200, `${what} -> ${r.status} ${short(r.text)}`);
        if (m === "EVENTS") {
          assert.ok(r.stream, what);
          opened++;
        } else {
          assert.ok(isObj(r.body) && r.body.id === seg.toLowerCase() && r.body.owner === "alice" && validRender(r.body), `${what} -> ${short(r.text)}`);
        }
        return;
      }
      assertError(r, ["not_found", "bad_url"], what);
    }), 200);
    assert.ok(opened > 0, "no event stream of the caller's was opened: the stream path went untested");
  });

  // ---- requests Node's HTTP parser refuses (no route ever sees them) ----------------------------

  test("what Node's HTTP parser refuses is answered in the error shape too (431, 400), not fastify's", async () => {
    const port = Number(new URL(base).port);
    /** Raw bytes on a fresh connection; what came back before the server closed it. */
    const raw = (bytes: string) => new Promise<string>((resolve, reject) => {
      let out = "";
      const s = connect(port, "127.0.0.1", () => s.write(bytes));
      s.setTimeout(REQUEST_TIMEOUT_MS, () => s.destroy(new Error("no answer")));
      s.on("data", (d) => (out += d.toString("latin1")));
      s.on("close", () => resolve(out));
      s.on("error", (e) => (out ? resolve(out) : reject(e)));
    });
    const cases: Array<[string, number, string]> = [
      [`GET /v1/renders?cursor=${"a".repeat(20_000)} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-alice\r\n\r\n`, 431, "headers_too_large"],
      [`GET /v1/renders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${"t".repeat(20_000)}\r\n\r\n`, 431, "headers_too_large"],
      ["NOT HTTP\r\n\r\n", 400, "bad_request"],
      // A control character in a header value (fetch refuses to send one; another client may).
      ["GET /v1/renders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \u0001tok-alice\r\n\r\n", 400, "bad_request"],
    ];
    for (const [bytes, status, code] of cases) {
      const out = await raw(bytes);
      const [head = "", body = ""] = out.split("\r\n\r\n");
      assert.match(head, new RegExp(`^HTTP/1\\.1 ${status} `), short(out));
      assert.match(head, /\r\ncontent-type: application\/json/i, short(out));
      assert.deepEqual(JSON.parse(body), { error: { code, message: (JSON.parse(body) as { error: { message: string } }).error.message, retryable: false } }, short(out));
    }
  });

  // ---- 4. Authorization ---------------------------------------------------------------------

  test("Authorization: anything but a valid token is a 401 in the error shape, before the body is looked at", { timeout: PROPERTY_TIMEOUT_MS }, async (t) => {
    const now = () => Math.floor(Date.now() / 1000);
    const secretKey = new TextEncoder().encode(JWT_SECRET);
    /** A JWT signed with the secret (or not), with claims of any kind. */
    /** Mostly the valid claim (so some tokens pass), else a broken one. */
    const claim = (ok: Arbitrary<unknown>, broken: Arbitrary<unknown>) => fc.oneof({ weight: 3, arbitrary: ok }, { weight: 1, arbitrary: broken });
    const claims = fc.record({
      iss: claim(fc.constant(ISSUER), fc.oneof(fc.constant(`${ISSUER}/`), fc.string(), fc.constant([ISSUER]), fc.integer())),
      aud: claim(fc.constantFrom<unknown>(AUDIENCE, [AUDIENCE, "other"]), fc.oneof(fc.constant(["other"]), fc.constant("anon"), fc.string(), fc.integer())),
      exp: claim(fc.constantFrom(3600, 600).map((d) => ({ rel: d })), fc.oneof(fc.constantFrom(-10, -3600, -86400).map((d) => ({ rel: d })), fc.constantFrom<unknown>(1e308, -1, 0, 1.5, "soon", null, [1]))),
      nbf: claim(fc.constant({ rel: -3600 }), fc.oneof(fc.constant({ rel: 3600 }), fc.constantFrom<unknown>("now", null))),
      sub: claim(fc.oneof(fc.constantFrom("carol", "dave_1", "x".repeat(128)), fc.uuid()), fc.oneof(weirdString, fc.constantFrom<unknown>("", "a b", "x".repeat(129), 123, null, ["carol"]))),
    }, { requiredKeys: ["iss", "aud", "exp", "sub"] });
    type Claims = { iss: unknown; aud: unknown; exp: unknown; nbf?: unknown; sub: unknown };
    const abs = (v: unknown) => (isObj(v) && typeof v.rel === "number" ? now() + v.rel : v);
    /** Must a token signed with the secret and these claims be accepted ("yes"), refused ("no"), or either ("maybe")? */
    function verdict(c: Claims): "yes" | "no" | "maybe" {
      const exp = abs(c.exp);
      const nbf = "nbf" in c ? abs(c.nbf) : undefined;
      const audOk = c.aud === AUDIENCE || (Array.isArray(c.aud) && c.aud.includes(AUDIENCE));
      if (c.iss !== ISSUER || !audOk || typeof c.sub !== "string" || !OWNER_RE.test(c.sub) || typeof exp !== "number") return "no";
      if (exp < now() - TOLERANCE_S - 60 || (nbf !== undefined && (typeof nbf !== "number" || nbf > now() + TOLERANCE_S + 60))) return "no";
      return exp > now() + 60 && (nbf === undefined || (nbf as number) < now() - 60) ? "yes" : "maybe";
    }
    const signed = fc.tuple(claims, fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) })).map(([c, rightKey]) => ({ kind: "jwt" as const, claims: c as Claims, rightKey }));
    const jwtLike = fc.tuple(
      fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom<unknown>({ alg: "none" }, { alg: "HS256" }, { alg: "HS256", typ: "JWT" }, { alg: "RS256", kid: "k" }, { alg: "ES256" }, { alg: "EdDSA" }, { alg: 256 }, { alg: "HS256", crit: ["x"] }, { alg: "HS256", b64: false, crit: ["b64"] }))
        .map((h) => b64url(JSON.stringify(h))),
      fc.oneof(fc.jsonValue({ maxDepth: 2 }).map((p) => b64url(JSON.stringify(p))), fc.base64String({ maxLength: 40 }).map((s) => s.replace(/[+/=]/g, "_")), fc.constant("")),
      fc.oneof(fc.base64String({ maxLength: 60 }).map((s) => s.replace(/[+/=]/g, "-")), fc.constant("")),
    ).map(([h, p, s]) => `${h}.${p}.${s}`);
    const token = fc.oneof(
      fc.constantFrom("tok-alice", "tok-bob"),
      fc.constantFrom("tok-alic", "tok-alice2", "TOK-ALICE", "tok-alice,tok-bob", "tok-alice tok-bob", "tok-alice\ttok-bob", "tok-\u00e9", "alice", "null", "Bearer"),
      headerString(60),
      jwtLike,
      fc.integer({ min: 1000, max: 20_000 }).map((n) => "t".repeat(n)),
    );
    const scheme = fc.oneof(fc.constantFrom("Bearer", "bearer", "BEARER", "BeArEr"), fc.constantFrom("Basic", "Token", "Bearer:", "Bearer,", "", "Bearer Bearer"));
    const sep = fc.oneof(fc.constantFrom(" ", "  ", "\t", " \t "), fc.constantFrom("", "=", ":"));
    const header = fc.oneof(
      { weight: 1, arbitrary: fc.constant({ kind: "none" as const }) },
      { weight: 3, arbitrary: headerString(80).map((value) => ({ kind: "text" as const, value })) },
      { weight: 5, arbitrary: fc.tuple(fc.constantFrom("", " ", "\t"), scheme, sep, token, fc.constantFrom("", " ", "\t", " x", ",")).map(([a, s, p, t, z]) => ({ kind: "text" as const, value: a + s + p + t + z })) },
      { weight: 4, arbitrary: signed },
    );
    const endpoints = ["GET /v1/renders", "POST good", "POST garbage", "GET id", "DELETE id", "EVENTS id", "GET /v1/nope"] as const;
    const UNKNOWN_ID = "00000000-0000-4000-8000-000000000000";
    /** Who a plain header speaks for: `Bearer <token>` (scheme in any case), after the whitespace HTTP trims. */
    const staticOwner = (v: string) => ({ "tok-alice": "alice", "tok-bob": "bob" } as Record<string, string>)[/^Bearer\s+(\S+)$/i.exec(v.replace(/^[\t ]+|[\t ]+$/g, ""))?.[1] ?? ""];
    let passed = 0;
    await runs(t, fc.asyncProperty(fc.tuple(header, fc.constantFrom(...endpoints)), async ([h, ep]) => {
      let auth: string | null = null;
      let expect: "yes" | "no" | "maybe" = "no";
      let owner: string | undefined;
      if (h.kind === "text") {
        auth = h.value;
        owner = staticOwner(h.value);
        expect = owner ? "yes" : "no";
      } else if (h.kind === "jwt") {
        const c = h.claims;
        const payload: Record<string, unknown> = { iss: c.iss, aud: c.aud, exp: abs(c.exp), sub: c.sub };
        if ("nbf" in c) payload.nbf = abs(c.nbf);
        const jwt = await new SignJWT(payload).setProtectedHeader({ alg: "HS256" }).sign(h.rightKey ? secretKey : new TextEncoder().encode(`${JWT_SECRET}-wrong`));
        auth = `Bearer ${jwt}`;
        expect = h.rightKey ? verdict(c) : "no";
        owner = typeof c.sub === "string" ? c.sub : undefined;
      }
      const [method, path, body] = {
        "GET /v1/renders": ["GET", "/v1/renders", undefined],
        "POST good": ["POST", "/v1/renders", JSON.stringify(GOOD)],
        "POST garbage": ["POST", "/v1/renders", "{not json"],
        "GET id": ["GET", `/v1/renders/${UNKNOWN_ID}`, undefined],
        "DELETE id": ["DELETE", `/v1/renders/${UNKNOWN_ID}`, undefined],
        "EVENTS id": ["GET", `/v1/renders/${UNKNOWN_ID}/events`, undefined],
        "GET /v1/nope": ["GET", "/v1/nope", undefined],
      }[ep] as [string, string, string | undefined];
      const r = await send(method, path, { auth, ...(body === undefined ? {} : { body }) });
      const what = `${ep} with ${auth === null ? "no Authorization" : short(JSON.stringify(auth), 200)} (expect ${expect})`;
      if (r.status === 401 || expect === "no") {
        assert.notEqual(expect, "yes", `refused a valid token: ${what} -> ${r.status} ${short(r.text)}`);
        const code = assertError(r, AUTH_CODES, what);
        if (code === "headers_too_large") return;
        assert.equal(r.status, 401, what);
        if (h.kind !== "jwt") assert.equal(code, "unauthorized", what);
        if (h.kind === "none") assert.equal(r.headers.get("www-authenticate"), "Bearer", what);
        return;
      }
      passed++;
      // Accepted: what the endpoint answers an authenticated caller.
      const ctx = `${what} -> ${r.status} ${short(r.text)}`;
      if (ep === "GET /v1/renders") assert.ok(r.status === 200 && validRenderList(r.body), ctx);
      else if (ep === "POST good") {
        assert.ok((r.status === 202 || r.status === 200) && isObj(r.body), ctx);
        assert.equal(r.body.owner, owner, `the render belongs to the token's owner: ${ctx}`);
      } else if (ep === "POST garbage") assert.equal(assertError(r, ["malformed_json"], what), "malformed_json");
      else assertError(r, ["not_found"], what);
    }), 200);
    assert.ok(passed > 0, "no valid credential was generated: the accepted path went untested");
  });
});
