/**
 * `image-cache` is the owner name the compute plane's image cache files live under
 * (renders/image-cache/<hash>.json, modal_functions/images/cache.py). No caller is that owner,
 * however it authenticates, and no request may name those files as its own inputs: a JWT
 * whose `sub` is `image-cache` is refused, and a `renders/image-cache/…` key is a foreign
 * reference whoever the render runs as (a row inserted directly with that owner included).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { SignJWT } from "jose";
import { createJwtVerifier, JwtError } from "./jwt.ts";
import { validateRenderRequest, ValidationError } from "./validate.ts";

const SECRET = "a-legacy-hs256-secret-of-at-least-32-characters";
const ISSUER = "https://project.supabase.co/auth/v1";

const sign = (sub: string) =>
  new SignJWT({ aud: "authenticated" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(sub)
    .setIssuer(ISSUER)
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(new TextEncoder().encode(SECRET));

test("a JWT whose sub is the reserved image-cache owner is an invalid token", async () => {
  const jwt = createJwtVerifier({ secret: SECRET, issuer: ISSUER, audience: "authenticated", clockToleranceS: 30, jwksTimeoutMs: 1000 });
  assert.equal((await jwt.verify(await sign("alice"))).owner, "alice");
  await assert.rejects(jwt.verify(await sign("image-cache")), (e: unknown) => e instanceof JwtError && e.code === "invalid_token");
  assert.equal((await jwt.verify(await sign("image-cache2"))).owner, "image-cache2");
});

test("a renders/image-cache/ key is never the caller's own, even for a render whose owner is image-cache", () => {
  const KEY = "artifacts/sha256/aa/" + "a".repeat(64) + ".wav";
  const body = { narration_audio: KEY, scenes: [{ narration: "Hello there.", image: "renders/image-cache/abc123.json" }] };
  for (const owner of ["image-cache", "alice", null]) {
    assert.throws(
      () => validateRenderRequest(body, owner),
      (e: unknown) => e instanceof ValidationError && e.code === "foreign_reference",
      `owner ${owner}`,
    );
  }
  assert.doesNotThrow(() => validateRenderRequest({ ...body, scenes: [{ narration: "Hello there.", image: "renders/alice/r1.png" }] }, "alice"));
});
