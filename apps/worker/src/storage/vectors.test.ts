/** The storage helper's shared vectors: the worker derives keys and signs URLs exactly like Python. */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { artifactKey, contentTypeFor, InvalidKeyError, normalizeExt, parseKey, publishedKey, supabaseLocation } from "./keys.ts";
import { canonicalString, sign, signedUrl, verify } from "./signing.ts";

const dir = new URL("../../../../packages/shared-types/vectors/", import.meta.url);
const load = (name: string) => JSON.parse(readFileSync(new URL(name, dir), "utf8"));

test("artifact keys match the vectors", () => {
  const v = load("artifact-keys.json");
  for (const c of v.cases) {
    const bytes = c.bytes_hex !== undefined ? Buffer.from(c.bytes_hex, "hex") : Buffer.from(c.bytes_utf8, "utf8");
    const digest = createHash("sha256").update(bytes).digest("hex");
    assert.equal(digest, c.sha256, c.name);
    assert.equal(normalizeExt(c.ext), c.normalized_ext, c.name);
    assert.equal(artifactKey(digest, c.ext), c.key, c.name);
    assert.equal(contentTypeFor(c.normalized_ext), c.content_type, c.name);
    if (c.supabase) assert.deepEqual(supabaseLocation(c.key), c.supabase, c.name);
  }
  for (const k of v.valid_keys) assert.doesNotThrow(() => parseKey(k), k);
  for (const k of v.invalid_keys) assert.throws(() => parseKey(k), InvalidKeyError, JSON.stringify(k));
});

test("published keys match the vectors", () => {
  const v = load("published-keys.json");
  for (const c of v.cases) {
    assert.equal(publishedKey(c.owner, c.id, c.ext), c.key);
    assert.equal(contentTypeFor(normalizeExt(c.ext)), c.content_type);
    assert.deepEqual(supabaseLocation(c.key), c.supabase);
  }
  for (const c of v.invalid) assert.throws(() => publishedKey(c.owner, c.id, c.ext), InvalidKeyError, JSON.stringify(c));
});

test("URL signatures match the vectors", () => {
  const v = load("url-signatures.json");
  for (const c of v.cases) {
    assert.equal(canonicalString(c.key, c.exp), c.canonical, c.name);
    assert.equal(sign(c.secret, c.key, c.exp), c.sig, c.name);
    if (c.url) assert.equal(signedUrl(c.base_url, c.secret, c.key, c.exp), c.url, c.name);
  }
  for (const c of v.verify) {
    assert.equal(verify(c.secret, c.key, c.exp, c.sig, c.now), c.expect, c.name);
  }
});
