// Re-derives every vector in this folder with node:crypto only, so the JSON files are
// known to be reproducible from JavaScript exactly as written in their descriptions.
// Run: node packages/shared-types/vectors/check.mjs   (exit 1 on the first mismatch)
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const load = (name) => JSON.parse(readFileSync(join(here, name), "utf8"));

const ARTIFACT_KEY = /^artifacts\/sha256\/([0-9a-f]{2})\/([0-9a-f]{64})\.([a-z0-9]{1,8})$/;
const PUBLISHED_KEY = /^renders\/([A-Za-z0-9_-]{1,128})\/([A-Za-z0-9_-]{1,128})\.([a-z0-9]{1,8})$/;
const NAME = /^[A-Za-z0-9_-]{1,128}$/;
const EXT = /^[a-z0-9]{1,8}$/;

export function normalizeExt(ext) {
  const e = (ext.startsWith(".") ? ext.slice(1) : ext).toLowerCase();
  if (!EXT.test(e)) throw new Error("invalid_key");
  return e;
}

export function isValidKey(key) {
  // JS `$` does not match before a trailing newline without the m flag, same as Python's fullmatch
  const m = ARTIFACT_KEY.exec(key);
  if (m) return m[1] === m[2].slice(0, 2);
  return PUBLISHED_KEY.test(key);
}

export function artifactKey(bytes, ext) {
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  return { sha256, key: `artifacts/sha256/${sha256.slice(0, 2)}/${sha256}.${normalizeExt(ext)}` };
}

export function publishedKey(owner, id, ext) {
  if (!NAME.test(owner) || !NAME.test(id)) throw new Error("invalid_key");
  return `renders/${owner}/${id}.${normalizeExt(ext)}`;
}

export function sign(secret, key, exp) {
  return createHmac("sha256", Buffer.from(secret, "utf8")).update(Buffer.from(`GET\n${key}\n${exp}`, "utf8")).digest("hex");
}

export function verify(secret, key, exp, sig, now) {
  if (!isValidKey(key)) return "invalid_key";
  if (!/^[0-9]{1,12}$/.test(String(exp)) || !/^[0-9a-f]{64}$/.test(sig ?? "")) return "bad_signature";
  const good = Buffer.from(sign(secret, key, Number(exp)), "utf8");
  if (!timingSafeEqual(good, Buffer.from(sig, "utf8"))) return "bad_signature";
  return now >= Number(exp) ? "signature_expired" : "ok";
}

function check() {
  const fail = (msg) => {
    console.error(`vector mismatch: ${msg}`);
    process.exit(1);
  };
  const keys = load("artifact-keys.json");
  for (const c of keys.cases) {
    const bytes = "bytes_hex" in c ? Buffer.from(c.bytes_hex, "hex") : Buffer.from(c.bytes_utf8, "utf8");
    const got = artifactKey(bytes, c.ext);
    if (got.sha256 !== c.sha256 || got.key !== c.key) fail(`artifact key ${c.name}`);
    if (c.supabase.path !== c.key.slice("artifacts/".length)) fail(`supabase path ${c.name}`);
  }
  for (const k of keys.valid_keys) if (!isValidKey(k)) fail(`valid key refused: ${JSON.stringify(k)}`);
  for (const k of keys.invalid_keys) if (isValidKey(k)) fail(`invalid key accepted: ${JSON.stringify(k)}`);

  const sigs = load("url-signatures.json");
  for (const c of sigs.cases) {
    if (`GET\n${c.key}\n${c.exp}` !== c.canonical) fail(`canonical ${c.name}`);
    const sig = sign(c.secret, c.key, c.exp);
    if (sig !== c.sig) fail(`sig ${c.name}`);
    if (`${c.base_url.replace(/\/+$/, "")}/v1/artifacts/${c.key}?exp=${c.exp}&sig=${sig}` !== c.url) fail(`url ${c.name}`);
  }
  for (const c of sigs.verify) {
    const got = verify(c.secret, c.key, c.exp, c.sig, c.now);
    if (got !== c.expect) fail(`verify ${c.name}: ${got} != ${c.expect}`);
  }

  const pub = load("published-keys.json");
  for (const c of pub.cases) if (publishedKey(c.owner, c.id, c.ext) !== c.key) fail(`published ${c.owner}/${c.id}`);
  for (const c of pub.invalid) {
    let threw = false;
    try {
      publishedKey(c.owner, c.id, c.ext);
    } catch {
      threw = true;
    }
    if (!threw) fail(`invalid publish accepted ${JSON.stringify(c)}`);
  }
  console.log("vectors ok");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) check();
