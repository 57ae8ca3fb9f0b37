/**
 * Settings loadConfig must refuse (or read as their default) before the worker opens its
 * database or claims a render: a refusal there is one `bad_config` line and exit 2, where a
 * failure later in start-up has already claimed renders and burns their attempts on every restart.
 */
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { test } from "node:test";
import { buildPolicies, DEFAULT_POLICY } from "./client/policies.ts";
import { loadConfig } from "./config.ts";
import { parseTokens } from "./http/auth.ts";

test("a malformed WORKER_TOKENS is refused by loadConfig, naming it (it used to fail only after the worker had started claiming)", () => {
  for (const spec of ["just-a-token", ":owner", "tok:owner.with.dots", "a:o1,b:bad owner"]) {
    assert.throws(() => parseTokens(spec), `parseTokens refuses ${spec}`);
    assert.throws(() => loadConfig({ WORKER_TOKENS: spec }), /WORKER_TOKENS/, spec);
  }
  assert.equal(loadConfig({ WORKER_TOKENS: "t1:o1, t2:o2" }).tokens, "t1:o1, t2:o2");
  assert.equal(loadConfig({ WORKER_TOKENS: "" }).tokens, "");
});

test("every BREAKER_FAILURE_RATE loadConfig accepts builds a breaker (1 used to pass here and crash the client's construction)", () => {
  assert.throws(() => loadConfig({ BREAKER_FAILURE_RATE: "1" }), /BREAKER_FAILURE_RATE="1"/);
  for (const v of ["0.01", "0.5", "0.99"]) {
    const policy = { ...DEFAULT_POLICY, ...loadConfig({ BREAKER_FAILURE_RATE: v }).policy };
    assert.doesNotThrow(() => buildPolicies(policy), v);
  }
});

test("an empty value means the default (README), not an empty host, directory, port or bucket", () => {
  const d = loadConfig({});
  const e = loadConfig({
    WORKER_HOST: "", WORKER_PGLITE_DIR: "", COMPUTE_PORT: "", WORKER_ROLE: "", ARTIFACT_STORE: "",
    CANVASCAST_DATA_DIR: "", SUPABASE_ARTIFACT_BUCKET: "", SUPABASE_RENDERS_BUCKET: "",
  });
  // "" used to bind every interface, keep the queue in memory (lost on restart) and call port 80.
  assert.equal(e.host, "127.0.0.1");
  assert.equal(e.pgliteDir, d.pgliteDir);
  assert.equal(e.pgliteDir, resolve(".canvascast", "worker-db"));
  assert.equal(e.compute.url, "http://127.0.0.1:8000");
  assert.equal(e.role, "all");
  assert.equal(e.store.kind, "local");
  assert.equal(e.store.dataDir, resolve(".canvascast"));
  assert.equal(e.store.artifactsBucket, "artifacts");
  assert.equal(e.store.rendersBucket, "renders");
});
