import assert from "node:assert/strict";
import { test } from "node:test";
import { loadConfig } from "./config.ts";

const JWKS = "https://project.supabase.co/auth/v1/.well-known/jwks.json";
const SECRET = "s".repeat(32);

test("without SUPABASE_JWKS_URL or SUPABASE_JWT_SECRET only static tokens are accepted, and /metrics is open", () => {
  const c = loadConfig({ SUPABASE_URL: "https://project.supabase.co" });
  assert.equal(c.jwt, null);
  assert.equal(c.metricsToken, undefined);
  assert.equal(loadConfig({ METRICS_TOKEN: "scrape" }).metricsToken, "scrape");
});

test("JWT settings: the issuer comes from SUPABASE_URL, the audience is authenticated, 30 s of clock tolerance", () => {
  const c = loadConfig({ SUPABASE_JWKS_URL: JWKS, SUPABASE_URL: "https://project.supabase.co/" });
  assert.deepEqual(c.jwt, { jwksUrl: JWKS, secret: undefined, issuer: "https://project.supabase.co/auth/v1", audience: "authenticated", clockToleranceS: 30, jwksTimeoutMs: 5000 });
  const custom = loadConfig({
    SUPABASE_JWT_SECRET: SECRET, SUPABASE_JWT_ISSUER: "https://auth.example.com/auth/v1", SUPABASE_JWT_AUDIENCE: "app",
    SUPABASE_JWT_CLOCK_TOLERANCE_S: "0", SUPABASE_JWKS_TIMEOUT_MS: "1500", SUPABASE_URL: "https://ignored.supabase.co",
  });
  assert.deepEqual(custom.jwt, { jwksUrl: undefined, secret: SECRET, issuer: "https://auth.example.com/auth/v1", audience: "app", clockToleranceS: 0, jwksTimeoutMs: 1500 });
});

test("bad JWT settings are refused at start, naming the variable", () => {
  const iss = { SUPABASE_URL: "https://project.supabase.co" };
  assert.throws(() => loadConfig({ ...iss, SUPABASE_JWKS_URL: "ftp://project.supabase.co/jwks.json" }), /SUPABASE_JWKS_URL="ftp:.*must be an http\(s\) URL/);
  assert.throws(() => loadConfig({ ...iss, SUPABASE_JWKS_URL: "project.supabase.co/jwks.json" }), /SUPABASE_JWKS_URL=.* is not a URL/);
  assert.throws(() => loadConfig({ ...iss, SUPABASE_JWT_SECRET: "short" }), /SUPABASE_JWT_SECRET must be at least 32 characters/);
  assert.throws(() => loadConfig({ SUPABASE_JWKS_URL: JWKS }), /SUPABASE_JWT_ISSUER/, "no issuer: any project's tokens would pass");
  assert.throws(() => loadConfig({ ...iss, SUPABASE_JWKS_URL: JWKS, SUPABASE_JWT_CLOCK_TOLERANCE_S: "-1" }), /SUPABASE_JWT_CLOCK_TOLERANCE_S/);
  assert.throws(() => loadConfig({ ...iss, SUPABASE_JWKS_URL: JWKS, SUPABASE_JWT_CLOCK_TOLERANCE_S: "3600" }), /SUPABASE_JWT_CLOCK_TOLERANCE_S="3600" must be a whole number >= 0 and <= 300/);
  assert.throws(() => loadConfig({ ...iss, SUPABASE_JWKS_URL: JWKS, SUPABASE_JWKS_TIMEOUT_MS: "0" }), /SUPABASE_JWKS_TIMEOUT_MS/);
  assert.throws(() => loadConfig({ ...iss, SUPABASE_JWKS_URL: JWKS, SUPABASE_JWKS_TIMEOUT_MS: "2.5" }), /SUPABASE_JWKS_TIMEOUT_MS/);
  assert.throws(() => loadConfig({ SUPABASE_JWT_ISSUER: "https://project.supabase.co/auth/v1" }), /SUPABASE_JWT_ISSUER is set but no JWT is accepted/);
});
