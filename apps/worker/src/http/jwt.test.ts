/**
 * Supabase Auth JWTs on the worker API, end to end over real HTTP: a local server plays the
 * project's JWKS endpoint (it can rotate keys, fail, hang), tokens are signed with jose.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from "jose";
import pino from "pino";
import { ComputeClient } from "../client/modal-client.ts";
import type { Db } from "../db/db.ts";
import { migrate } from "../db/migrate.ts";
import { openPglite } from "../db/pglite.ts";
import { Metrics } from "../metrics.ts";
import { Router } from "../router/index.ts";
import { parseTokens } from "./auth.ts";
import { createJwtVerifier, type JwtSettings } from "./jwt.ts";
import { buildApi, type ApiDeps } from "./server.ts";

const KEY = "artifacts/sha256/aa/" + "a".repeat(64) + ".wav";
const GOOD = { narration_audio: KEY, scenes: [{ narration: "Hello there.", image_prompt: "a hello" }] };
const ISSUER = "https://project.supabase.co/auth/v1";
const SECRET = "legacy-jwt-secret-that-is-long-enough-0123456789";
const ALICE = randomUUID();
const BOB = randomUUID();
const JWKS_TIMEOUT_MS = 1500; // every healthy fetch gets it too: 300 ms was missed under a loaded machine's pauses

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

/** The project's JWKS endpoint: serves `keys`, or fails with a 500, or never answers. */
class JwksEndpoint {
  keys: JWK[] = [];
  mode: "ok" | "error" | "hang" = "ok";
  fetches = 0;
  url = "";
  private server: Server = createServer((_req, res) => {
    this.fetches++;
    if (this.mode === "hang") return; // closed by stop()
    if (this.mode === "error") return void res.writeHead(500).end("down");
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: this.keys }));
  });

  async start() {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/auth/v1/.well-known/jwks.json`;
  }

  async stop() {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

async function keyPair(alg: "ES256" | "RS256", kid: string): Promise<{ pair: KeyPair; jwk: JWK; kid: string; alg: string }> {
  const pair = await generateKeyPair(alg, { extractable: true });
  return { pair, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg, use: "sig" }, kid, alg };
}

const now = () => Math.floor(Date.now() / 1000);

/** A Supabase-shaped access token; a claim set to undefined is left out. */
function claims(over: Partial<Record<keyof JWTPayload | "role", unknown>> = {}): JWTPayload {
  return { sub: ALICE, iss: ISSUER, aud: "authenticated", role: "authenticated", iat: now(), exp: now() + 3600, ...over } as JWTPayload;
}

const signWith = (k: { pair: KeyPair; kid: string; alg: string }, payload: JWTPayload = claims()) =>
  new SignJWT(payload).setProtectedHeader({ alg: k.alg, kid: k.kid, typ: "JWT" }).sign(k.pair.privateKey);

const signHs256 = (secret: string | Uint8Array, payload: JWTPayload = claims()) =>
  new SignJWT(payload).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(typeof secret === "string" ? new TextEncoder().encode(secret) : secret);

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

describe("Supabase JWT authentication", () => {
  let db: Db;
  let router: Router;
  const jwks = new JwksEndpoint();
  let k1: Awaited<ReturnType<typeof keyPair>>;
  let base: string;
  const apis: Array<ReturnType<typeof buildApi>> = [];
  const logLines: string[] = [];
  const log = pino({ level: "debug" }, new Writable({ write(chunk, _enc, cb) { logLines.push(String(chunk)); cb(); } }));
  const issued: string[] = []; // every token signed here, to check none reaches a log

  // Cooldown 0: a test rotates keys right after a fetch; production keeps jose's 30 s (tested below).
  const settings = (over: Partial<JwtSettings> = {}): JwtSettings => ({
    jwksUrl: jwks.url, secret: SECRET, issuer: ISSUER, audience: "authenticated", clockToleranceS: 30,
    jwksTimeoutMs: JWKS_TIMEOUT_MS, jwksCooldownMs: 0, ...over,
  });

  async function startApi(over: Partial<ApiDeps> = {}): Promise<string> {
    const app = buildApi({ db, router, metrics: new Metrics(), log, tokens: parseTokens("tok-svc:svc"), jwt: createJwtVerifier(settings(), log), ...over });
    apis.push(app);
    return app.listen({ host: "127.0.0.1", port: 0 });
  }

  before(async () => {
    db = await openPglite();
    await migrate(db);
    router = new Router({ inhouse: new ComputeClient({ name: "inhouse", baseUrl: "http://127.0.0.1:9" }) });
    await jwks.start();
    k1 = await keyPair("ES256", "k1");
    jwks.keys = [k1.jwk];
    base = await startApi();
  });
  after(async () => {
    for (const a of apis) await a.close();
    await jwks.stop();
    await db.close();
  });

  const call = async (method: string, path: string, token: string | null, opts: { raw?: string; at?: string } = {}) => {
    if (token) issued.push(token);
    const headers: Record<string, string> = {};
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (opts.raw !== undefined) headers["content-type"] = "application/json";
    const r = await fetch((opts.at ?? base) + path, { method, headers, body: opts.raw ?? null });
    const text = await r.text();
    const ct = r.headers.get("content-type") ?? "";
    return { status: r.status, headers: r.headers, body: ct.includes("json") && text ? JSON.parse(text) : text };
  };
  const submit = (token: string, at?: string) => call("POST", "/v1/renders", token, { raw: JSON.stringify(GOOD), ...(at ? { at } : {}) });
  const missing = "/v1/renders/00000000-0000-4000-8000-000000000000";

  test("a user's JWT submits and reads its own renders; another user's render is a 404", async () => {
    const alice = await signWith(k1);
    const r = await submit(alice);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(r.body.owner, ALICE, "the owner is the token's sub");
    assert.equal((await call("GET", `/v1/renders/${r.body.id}`, alice)).status, 200);
    const bob = await signWith(k1, claims({ sub: BOB }));
    for (const [m, p] of [["GET", ""], ["DELETE", ""], ["GET", "/events"]] as const) {
      const x = await call(m, `/v1/renders/${r.body.id}${p}`, bob);
      assert.deepEqual([x.status, x.body.error.code], [404, "not_found"], `${m} ${p}`);
    }
    assert.equal((await call("GET", `/v1/renders/${r.body.id}`, alice)).body.status, "queued", "bob's cancel did nothing");
  });

  test("static service tokens still work beside JWTs; an unknown token is still 401 unauthorized", async () => {
    const r = await submit("tok-svc");
    assert.deepEqual([r.status, r.body.owner], [202, "svc"]);
    assert.equal((await call("GET", `/v1/renders/${r.body.id}`, "tok-svc")).status, 200);
    const nope = await call("GET", missing, "nope");
    assert.deepEqual([nope.status, nope.body.error.code], [401, "unauthorized"]);
    assert.equal(nope.headers.get("www-authenticate"), 'Bearer error="invalid_token"');
    const none = await call("GET", missing, null);
    assert.deepEqual([none.status, none.body.error.code], [401, "unauthorized"]);
    assert.equal(none.headers.get("www-authenticate"), "Bearer", "no credentials: the bare challenge (RFC 6750 §3)");
  });

  test("legacy HS256 tokens verify with the JWT secret", async () => {
    const r = await submit(await signHs256(SECRET, claims({ sub: BOB })));
    assert.deepEqual([r.status, r.body.owner], [202, BOB]);
  });

  test("an expired JWT is 401 token_expired; within the 30 s clock tolerance it is accepted", async () => {
    const expired = await call("GET", missing, await signWith(k1, claims({ iat: now() - 3600, exp: now() - 120 })));
    assert.deepEqual([expired.status, expired.body.error], [401, { code: "token_expired", message: "the token has expired", retryable: false }]);
    assert.equal(expired.headers.get("www-authenticate"), 'Bearer error="invalid_token"');
    const hs = await call("GET", missing, await signHs256(SECRET, claims({ exp: now() - 120 })));
    assert.deepEqual([hs.status, hs.body.error.code], [401, "token_expired"]);
    const skewed = await call("GET", missing, await signWith(k1, claims({ exp: now() - 5 })));
    assert.deepEqual([skewed.status, skewed.body.error.code], [404, "not_found"], "5 s past exp is within the tolerance");
  });

  test("a JWT with a wrong issuer, audience, signature, subject or algorithm is 401 invalid_token", async () => {
    const stranger = await keyPair("ES256", "k1"); // claims k1's kid, signs with another key
    const rsaAsK1 = await keyPair("RS256", "k1"); // k1 is an EC key: RS256 cannot use it
    const unknownKid = await keyPair("ES256", "never-published");
    const good = await signWith(k1);
    const [h, , s] = good.split(".");
    const cases: Array<[string, string]> = [
      ["wrong issuer", await signWith(k1, claims({ iss: "https://other.supabase.co/auth/v1" }))],
      ["wrong audience", await signWith(k1, claims({ aud: "anon" }))],
      ["no audience (a service_role key)", await signWith(k1, claims({ aud: undefined, role: "service_role" }))],
      ["no exp", await signWith(k1, claims({ exp: undefined }))],
      ["no sub", await signWith(k1, claims({ sub: undefined }))],
      ["a sub that is not an owner id", await signWith(k1, claims({ sub: "../alice" }))],
      ["signed by another key under k1's kid", await signWith(stranger)],
      ["a payload swapped under a valid signature", `${h}.${b64(claims({ sub: BOB }))}.${s}`],
      ["RS256 under an EC key's kid", await signWith(rsaAsK1)],
      ["a kid the JWKS does not have", await signWith(unknownKid)],
      ["alg none", `${b64({ alg: "none", typ: "JWT" })}.${b64(claims())}.`],
      ["alg none with k1's kid", `${b64({ alg: "none", kid: "k1" })}.${b64(claims())}.`],
      ["an alg Supabase does not use", `${b64({ alg: "HS512", typ: "JWT" })}.${b64(claims())}.${s}`],
      ["HS256 with a wrong secret", await signHs256("another-secret-that-is-also-long-enough-012345")],
      ["HS256 keyed with the public key (algorithm confusion)", await signHs256(new TextEncoder().encode(JSON.stringify(k1.jwk)))],
      ["not JSON inside", "bm90.anNvbg.c2ln"],
    ];
    for (const [name, token] of cases) {
      const r = await call("GET", missing, token);
      assert.deepEqual([r.status, r.body.error?.code, r.body.error?.retryable], [401, "invalid_token", false], `${name}: ${JSON.stringify(r.body)}`);
      assert.equal(r.headers.get("www-authenticate"), 'Bearer error="invalid_token"', name);
    }
  });

  test("a token signed with a key the server has not seen is accepted after one JWKS refetch (key rotation)", async () => {
    await call("GET", missing, await signWith(k1)); // k1 is cached
    const k2 = await keyPair("RS256", "k2");
    jwks.keys = [k1.jwk, k2.jwk];
    try {
      const before = jwks.fetches;
      const r = await call("GET", missing, await signWith(k2, claims({ sub: BOB })));
      assert.deepEqual([r.status, r.body.error.code], [404, "not_found"], "accepted: the render is just not there");
      assert.equal(jwks.fetches, before + 1, "one refetch for the new kid");
      await call("GET", missing, await signWith(k2));
      assert.equal(jwks.fetches, before + 1, "then k2 is cached");
    } finally {
      jwks.keys = [k1.jwk];
    }
  });

  test("within the cooldown after a fetch, unknown kids fetch the JWKS no more", async () => {
    const at = await startApi({ jwt: createJwtVerifier(settings({ jwksCooldownMs: undefined }), log) });
    assert.equal((await call("GET", missing, await signWith(k1), { at })).status, 404);
    const before = jwks.fetches;
    for (let i = 0; i < 5; i++) {
      const r = await call("GET", missing, await signWith(await keyPair("ES256", `random-${i}`)), { at });
      assert.deepEqual([r.status, r.body.error.code], [401, "invalid_token"]);
    }
    assert.equal(jwks.fetches, before, "inside the 30 s cooldown, random kids fetch nothing");
  });

  test("a JWKS endpoint that fails, hangs or refuses connections is 503 auth_unavailable, within the fetch timeout", { timeout: 15_000 }, async () => {
    const token = await signWith(k1);
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const closedUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/auth/v1/.well-known/jwks.json`;
    await new Promise((r) => closed.close(r));
    try {
      for (const mode of ["error", "hang", "refused"] as const) {
        jwks.mode = mode === "refused" ? "ok" : mode;
        // A fresh API: nothing cached yet, so the token cannot be checked at all.
        const at = await startApi({ jwt: createJwtVerifier(settings(mode === "refused" ? { jwksUrl: closedUrl } : {}), log) });
        const t0 = Date.now();
        const r = await call("GET", missing, token, { at });
        const ms = Date.now() - t0;
        assert.equal(r.status, 503, `${mode}: ${JSON.stringify(r.body)}`);
        assert.deepEqual(r.body.error, { code: "auth_unavailable", message: "the signing keys could not be fetched; try again", retryable: true }, mode);
        assert.equal(r.headers.get("retry-after"), "5");
        assert.ok(ms < JWKS_TIMEOUT_MS + 2000, `${mode}: answered in ${ms} ms`);
        // Authentication still comes first: an oversized body gets the 503, not a 413.
        const big = await call("POST", "/v1/renders", token, { at, raw: JSON.stringify({ ...GOOD, title: "x".repeat(2_000_000) }) });
        assert.deepEqual([big.status, big.body.error.code], [503, "auth_unavailable"], mode);
      }
      // Static service tokens never need the JWKS.
      const at = await startApi();
      jwks.mode = "hang";
      assert.equal((await call("GET", missing, "tok-svc", { at })).status, 404);
    } finally {
      jwks.mode = "ok";
    }
    assert.ok(logLines.some((l) => l.includes('"event":"jwks_unavailable"')), "the outage is logged");
  });

  test("keys fetched before still verify while the JWKS endpoint is down; a kid they lack is 503", { timeout: 15_000 }, async () => {
    // Max age 0: every request refetches, so every request below meets the outage.
    const at = await startApi({ jwt: createJwtVerifier(settings({ jwksMaxAgeMs: 0 }), log) });
    const token = await signWith(k1);
    assert.equal((await call("GET", missing, token, { at })).status, 404);
    const k3 = await keyPair("ES256", "k3");
    try {
      for (const mode of ["error", "hang"] as const) {
        jwks.mode = mode;
        const before = jwks.fetches;
        const r = await call("GET", missing, token, { at });
        assert.deepEqual([r.status, r.body.error.code], [404, "not_found"], `${mode}: k1 still verifies`);
        assert.ok(jwks.fetches > before, `${mode}: the endpoint was tried`);
        const unseen = await call("GET", missing, await signWith(k3), { at });
        assert.deepEqual([unseen.status, unseen.body.error.code], [503, "auth_unavailable"], mode);
        const bad = await call("GET", missing, await signWith(k1, claims({ aud: "anon" })), { at });
        assert.deepEqual([bad.status, bad.body.error.code], [401, "invalid_token"], `${mode}: the stale keys still check claims`);
      }
    } finally {
      jwks.mode = "ok";
    }
  });

  test("a refused JWT gets its 401 before its body is looked at", async () => {
    const expired = await signWith(k1, claims({ exp: now() - 120 }));
    const bad = await call("POST", "/v1/renders", expired, { raw: "{not json" });
    assert.deepEqual([bad.status, bad.body.error.code], [401, "token_expired"]);
    const big = await call("POST", "/v1/renders", `${b64({ alg: "none" })}.${b64(claims())}.`, { raw: JSON.stringify({ ...GOOD, title: "x".repeat(2_000_000) }) });
    assert.deepEqual([big.status, big.body.error.code], [401, "invalid_token"]);
  });

  test("without a JWT verifier a JWT is just an unknown token: 401 unauthorized", async () => {
    const at = await startApi({ jwt: undefined });
    const r = await call("GET", missing, await signWith(k1), { at });
    assert.deepEqual([r.status, r.body.error.code], [401, "unauthorized"]);
  });

  test("with a metrics token, /metrics needs it and nothing else; /health stays open", async () => {
    const at = await startApi({ metricsToken: "scrape-secret" });
    const ok = await call("GET", "/metrics", "scrape-secret", { at });
    assert.equal(ok.status, 200);
    assert.match(ok.body, /canvascast_breaker_state|# HELP/);
    for (const token of [null, "wrong", "tok-svc", await signWith(k1)]) {
      const r = await call("GET", "/metrics", token, { at });
      assert.deepEqual([r.status, r.body.error.code], [401, "unauthorized"], String(token));
      assert.ok(r.headers.get("www-authenticate")?.startsWith("Bearer"));
    }
    assert.equal((await call("GET", "/health", null, { at })).status, 200);
  });

  test("without a metrics token, /metrics is open", async () => {
    const r = await call("GET", "/metrics", null);
    assert.equal(r.status, 200);
  });

  /** Reads an event stream to its end: its text, and when it ended. */
  const drain = async (res: Response) => ({ text: await res.text(), endedAt: Date.now() });
  const stream = (at: string, id: string, token: string) => {
    issued.push(token);
    return fetch(`${at}/v1/renders/${id}/events`, { headers: { authorization: `Bearer ${token}` } });
  };

  test("an event stream opened with a JWT ends when the JWT expires (exp + clock tolerance): a retryable token_expired error, then the end", { timeout: 15_000 }, async () => {
    // Polls far apart: the stream must not wait for the next poll to notice the expiry.
    const at = await startApi({ jwt: createJwtVerifier(settings({ clockToleranceS: 1 }), log), eventsPollMs: 60_000 });
    const exp = now() + 4; // seconds to open the stream before exp + tolerance comes, pauses of a loaded machine included
    const token = await signHs256(SECRET, claims({ exp }));
    const id = (await submit(await signWith(k1), at)).body.id as string;
    const res = await stream(at, id, token);
    assert.equal(res.status, 200);
    const { text, endedAt } = await drain(res);
    assert.ok(endedAt >= (exp + 1) * 1000, `ended ${endedAt - exp * 1000} ms after exp: not before exp + the 1 s tolerance`);
    assert.ok(endedAt < (exp + 1) * 1000 + 3000, `ended ${endedAt - (exp + 1) * 1000} ms after exp + tolerance, not at the next poll`);
    const events = text.split("\n\n").filter(Boolean);
    assert.match(events[0]!, /^event: render\ndata: \{/);
    assert.deepEqual(events.slice(1), [`event: error\ndata: ${JSON.stringify({ error: { code: "token_expired", message: "the token has expired; reconnect with a fresh token", retryable: true } })}`]);
    const again = await stream(at, id, token);
    assert.deepEqual([again.status, ((await again.json()) as { error: { code: string } }).error.code], [401, "token_expired"], "reconnecting with the same token is refused");
  });

  test("while a short JWT's stream ends at its expiry, a longer JWT's and a service token's streams run on", { timeout: 15_000 }, async () => {
    const at = await startApi({ tokens: parseTokens(`tok-alice:${ALICE}`), jwt: createJwtVerifier(settings({ clockToleranceS: 0 }), log), eventsPollMs: 20 });
    const id = (await call("POST", "/v1/renders", "tok-alice", { at, raw: JSON.stringify(GOOD) })).body.id as string;
    const short = stream(at, id, await signWith(k1, claims({ exp: now() + 4 })));
    const long = stream(at, id, await signWith(k1, claims({ exp: now() + 3600 })));
    const service = stream(at, id, "tok-alice");
    for (const res of [short, long, service]) assert.equal((await res).status, 200);
    const ended = await drain(await short);
    assert.match(ended.text, /event: error\ndata: \{"error":\{"code":"token_expired"/);
    // The others are still streaming: they see the cancel that comes after the short token expired.
    assert.equal((await call("DELETE", `/v1/renders/${id}`, "tok-alice", { at })).body.status, "cancelled");
    for (const [name, res] of [["long JWT", long], ["service token", service]] as const) {
      const { text } = await drain(await res);
      assert.match(text, /"status":"cancelled"/, name);
      assert.match(text, /event: end\ndata: \{"status":"cancelled"\}\n\n$/, name);
      assert.doesNotMatch(text, /event: error/, name);
    }
  });

  test("authentication failures are counted by code on /metrics, never by token or owner", { timeout: 15_000 }, async () => {
    const metrics = new Metrics();
    // JWKS on a port that refuses: an asymmetric token cannot be checked (503); HS256 still can.
    const at = await startApi({ metrics, jwt: createJwtVerifier(settings({ jwksUrl: "http://127.0.0.1:9/auth/v1/.well-known/jwks.json" }), log) });
    const counts = async () => {
      const text = (await call("GET", "/metrics", null, { at })).body as string;
      const out: Record<string, number> = {};
      for (const [, code, n] of text.matchAll(/^canvascast_auth_failures_total\{code="([^"]+)"\} (\d+)$/gm)) out[code!] = Number(n);
      return { text, out };
    };
    assert.deepEqual((await counts()).out, { unauthorized: 0, invalid_token: 0, token_expired: 0, auth_unavailable: 0 }, "every code is there from the start");
    const tokens = {
      expired: await signHs256(SECRET, claims({ exp: now() - 120 })),
      wrongAud: await signHs256(SECRET, claims({ aud: "anon" })),
      asymmetric: await signWith(k1),
      good: await signHs256(SECRET),
    };
    const expect: Array<[string | null, number, string]> = [
      [null, 401, "unauthorized"], ["nope", 401, "unauthorized"], ["nope-again", 401, "unauthorized"],
      [tokens.expired, 401, "token_expired"], [tokens.wrongAud, 401, "invalid_token"], [tokens.wrongAud, 401, "invalid_token"],
      [tokens.asymmetric, 503, "auth_unavailable"], [tokens.good, 404, "not_found"], ["tok-svc", 404, "not_found"],
    ];
    for (const [token, status, code] of expect) {
      const r = await call("GET", missing, token, { at });
      assert.deepEqual([r.status, r.body.error.code], [status, code], String(token));
    }
    assert.equal((await call("GET", "/health", null, { at })).status, 200);
    const { text, out } = await counts();
    assert.deepEqual(out, { unauthorized: 3, invalid_token: 2, token_expired: 1, auth_unavailable: 1 }, "accepted tokens and open routes count nothing");
    const series = text.split("\n").filter((l) => l.startsWith("canvascast_auth_failures_total"));
    assert.equal(series.length, 4, series.join("\n"));
    for (const secret of [...Object.values(tokens), "nope", ALICE]) assert.ok(!text.includes(secret), "no token or owner in the metrics");
  });

  test("no token reaches the logs", () => {
    const all = logLines.join("");
    assert.ok(issued.length > 10);
    for (const t of issued.filter((t) => t.includes("."))) assert.ok(!all.includes(t), "a token was logged");
    assert.ok(!all.includes(SECRET));
  });
});
