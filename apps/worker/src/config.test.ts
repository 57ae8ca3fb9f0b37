import assert from "node:assert/strict";
import { test } from "node:test";
import { loadConfig } from "./config.ts";

test("the defaults load: a 10 s heartbeat on a 60 s lease", () => {
  const c = loadConfig({});
  assert.equal(c.worker.leaseSeconds, 60);
  assert.equal(c.worker.heartbeatMs, 10_000);
});

test("a heartbeat that is not well under the lease is refused at start, naming both settings", () => {
  // The lease would lapse under a live worker and every lapse would burn an attempt.
  assert.throws(() => loadConfig({ WORKER_LEASE_S: "10" }), /WORKER_HEARTBEAT_MS=10000 .*WORKER_LEASE_S=10/);
  assert.throws(() => loadConfig({ WORKER_LEASE_S: "20", WORKER_HEARTBEAT_MS: "7000" }), /a third of the lease/);
  assert.throws(() => loadConfig({ WORKER_HEARTBEAT_MS: "0" }), /must be positive/);
  assert.equal(loadConfig({ WORKER_LEASE_S: "30", WORKER_HEARTBEAT_MS: "10000" }).worker.heartbeatMs, 10_000, "exactly a third is fine");
  assert.equal(loadConfig({ WORKER_LEASE_S: "4", WORKER_HEARTBEAT_MS: "1000" }).worker.leaseSeconds, 4, "the e2e tests' settings");
});

test("a numeric setting outside what the system can take is refused at start, naming it", () => {
  // WORKER_MAX_ATTEMPTS=500 used to load, and then every POST failed the table's 1..100 check with a 500.
  assert.throws(() => loadConfig({ WORKER_MAX_ATTEMPTS: "500" }), /WORKER_MAX_ATTEMPTS="500" must be a whole number >= 1 and <= 100/);
  assert.throws(() => loadConfig({ WORKER_MAX_ATTEMPTS: "2.5" }), /WORKER_MAX_ATTEMPTS/);
  assert.throws(() => loadConfig({ WORKER_CONCURRENCY: "0" }), /WORKER_CONCURRENCY/);
  assert.throws(() => loadConfig({ SIGNED_URL_TTL_S: "0" }), /SIGNED_URL_TTL_S/);
  assert.throws(() => loadConfig({ WORKER_PORT: "70000" }), /WORKER_PORT/);
  assert.equal(loadConfig({ WORKER_MAX_ATTEMPTS: "100", WORKER_PORT: "0" }).worker.maxAttempts, 100);
});

test("production without DATABASE_URL is refused (a per-container PGlite queue); PGlite stays a choice", () => {
  assert.throws(() => loadConfig({ NODE_ENV: "production" }), /DATABASE_URL is unset in production/);
  assert.equal(loadConfig({ NODE_ENV: "production", DATABASE_URL: "postgres://u@h/db" }).databaseUrl, "postgres://u@h/db");
  assert.equal(loadConfig({ NODE_ENV: "production", WORKER_PGLITE_DIR: "/data/db" }).pgliteDir, "/data/db");
  assert.equal(loadConfig({}).databaseUrl, undefined); // local default: PGlite
  for (const typo of ["postgre://u@h/db", "https://db.example.com", "u@h/db"]) {
    assert.throws(() => loadConfig({ DATABASE_URL: typo }), /DATABASE_URL must be a postgres:\/\//, typo);
  }
  assert.throws(() => loadConfig({ NODE_ENV: "production", DATABASE_URL: "memory://" }), /memory:\/\/ in production/);
  assert.equal(loadConfig({ DATABASE_URL: "memory://" }).databaseUrl, "memory://");
});
