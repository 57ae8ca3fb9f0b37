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

test("retry, breaker and poll settings outside sane ranges are refused at start, naming them", () => {
  // Node clamps a timer above 2^31-1 ms to 1 ms: every attempt would "time out" at once.
  assert.throws(() => loadConfig({ HTTP_ATTEMPT_TIMEOUT_MS: "3000000000" }), /HTTP_ATTEMPT_TIMEOUT_MS="3000000000" must be a whole number >= 1 and <= 2147483647/);
  assert.equal(loadConfig({ HTTP_ATTEMPT_TIMEOUT_MS: String(2 ** 31 - 1) }).policy.attemptTimeoutMs, 2 ** 31 - 1);
  for (const [name, v] of [
    ["HTTP_RETRY_MAX_MS", "-1"], ["HTTP_RETRY_MAX_MS", "0"], ["HTTP_RETRY_INITIAL_MS", "-500"], ["HTTP_RETRY_INITIAL_MS", "0"],
    ["BREAKER_WINDOW_MS", "0"], ["BREAKER_WINDOW_MS", "-1"], ["BREAKER_MIN_RPS", "-1"], ["BREAKER_HALF_OPEN_MS", "-5"],
    ["WORKER_POLL_MS", "0"], ["WORKER_BACKOFF_BASE_S", "-3"],
  ] as const) {
    assert.throws(() => loadConfig({ [name]: v }), new RegExp(`${name}="${v}"`), `${name}=${v}`);
  }
  assert.throws(() => loadConfig({ HTTP_RETRY_INITIAL_MS: "60000", HTTP_RETRY_MAX_MS: "100" }), /HTTP_RETRY_INITIAL_MS=60000 must not exceed HTTP_RETRY_MAX_MS=100/);
  const c = loadConfig({ BREAKER_MIN_RPS: "0", BREAKER_HALF_OPEN_MS: "0", WORKER_BACKOFF_BASE_S: "0.1", WORKER_POLL_MS: "200" });
  assert.deepEqual([c.policy.minimumRps, c.policy.halfOpenAfterMs, c.worker.backoffBaseSeconds, c.worker.idlePollMs], [0, 0, 0.1, 200], "the e2e tests' settings and zeroes that mean something");
  assert.deepEqual(loadConfig({}).policy, { attemptTimeoutMs: 10_000, maxAttempts: 4, initialDelayMs: 200, maxDelayMs: 10_000, failureRate: 0.5, windowMs: 30_000, minimumRps: 0.2, halfOpenAfterMs: 10_000 });
});

test("COMPUTE_URL / MODAL_COMPUTE_URL / COMPUTE_PUBLIC_URL must be http(s) URLs; empty means unset", () => {
  for (const name of ["COMPUTE_URL", "MODAL_COMPUTE_URL", "COMPUTE_PUBLIC_URL"]) {
    assert.throws(() => loadConfig({ [name]: "localhost:8000" }), new RegExp(`${name}="localhost:8000" must be an http\\(s\\) URL`));
    assert.throws(() => loadConfig({ [name]: "127.0.0.1:8000" }), new RegExp(`${name}="127.0.0.1:8000" is not a URL`));
  }
  const empty = loadConfig({ COMPUTE_URL: "", MODAL_COMPUTE_URL: "", COMPUTE_PUBLIC_URL: "", COMPUTE_PORT: "9000" });
  assert.equal(empty.compute.url, "http://127.0.0.1:9000");
  assert.equal(empty.modal, null);
  assert.equal(empty.store.publicUrl, "http://127.0.0.1:9000");
  const set = loadConfig({ COMPUTE_URL: "http://compute:8000", MODAL_COMPUTE_URL: "https://x--front.modal.run" });
  assert.equal(set.compute.url, "http://compute:8000");
  assert.equal(set.modal?.url, "https://x--front.modal.run");
});

test("every WARM_* setting is checked at start, naming it (not when the cron starts, after renders were claimed)", () => {
  const refused: Array<[Record<string, string>, RegExp]> = [
    [{ WARM_TZ: "America/NewYork" }, /WARM_TZ="America\/NewYork" is not an IANA time zone/],
    [{ WARM_DAYS: "1-7" }, /WARM_DAYS="1-7"/],
    [{ WARM_DAYS: "mon" }, /WARM_DAYS="mon"/],
    [{ WARM_DAYS: "" }, /WARM_DAYS is empty/],
    [{ WARM_HOURS: "8-20" }, /WARM_HOURS="8-20"/],
    [{ WARM_HOURS: "08:00-08:00" }, /WARM_HOURS="08:00-08:00" .*start != end/],
    [{ WARM_HOURS: "20:00-08:00-09:00" }, /WARM_HOURS="20:00-08:00-09:00"/],
    [{ WARM_HOURS: "08:00-24:00" }, /WARM_HOURS/],
    [{ WARM_CRON: "every minute" }, /WARM_CRON="every minute" is not a cron expression/],
    [{ WARM_TTL_S: "0" }, /WARM_TTL_S="0" must be a whole number >= 1 and <= 86400/],
    [{ WARM_TTL_S: "1.5" }, /WARM_TTL_S/],
    [{ WARM_TTL_S: "100000" }, /WARM_TTL_S/],
    [{ WARM_MIN_CONTAINERS: "-2" }, /WARM_MIN_CONTAINERS="-2" must be a whole number >= 0 and <= 100/],
    [{ WARM_MIN_CONTAINERS: "1.5" }, /WARM_MIN_CONTAINERS/],
    [{ WARM_MIN_CONTAINERS: "101" }, /WARM_MIN_CONTAINERS/],
    [{ WARM_KINDS: "" }, /WARM_KINDS is empty.*WARM_ENABLED=0/],
    [{ WARM_KINDS: " , " }, /WARM_KINDS is empty/],
    [{ WARM_KINDS: "generate_image,render_video" }, /WARM_KINDS has unknown kind\(s\) generate_image: use generate_images, transcribe_audio, render_video, diagnostic/],
    [{ WARM_ENABLED: "nope" }, /WARM_ENABLED="nope" must be one of/],
    [{ WARM_ENABLED: "2" }, /WARM_ENABLED/],
  ];
  for (const [env, re] of refused) assert.throws(() => loadConfig(env), re, JSON.stringify(env));

  const c = loadConfig({ WARM_TZ: "America/New_York", WARM_DAYS: "0,6", WARM_HOURS: "22:00-02:00", WARM_CRON: "*/10 * * * *", WARM_TTL_S: "86400", WARM_MIN_CONTAINERS: "0", WARM_KINDS: " diagnostic , render_video " });
  assert.deepEqual(c.warm, { enabled: true, schedule: "*/10 * * * *", hours: { days: new Set([0, 6]), startMin: 22 * 60, endMin: 2 * 60, timeZone: "America/New_York" }, kinds: ["diagnostic", "render_video"], ttlS: 86400, minContainers: 0 });
  // Empty is unset for the settings with an unambiguous default.
  const d = loadConfig({ WARM_TZ: "", WARM_CRON: "", WARM_HOURS: "", WARM_TTL_S: "", WARM_MIN_CONTAINERS: "", WARM_ENABLED: "" });
  assert.deepEqual(d.warm, { enabled: true, schedule: "*/5 * * * *", hours: { days: new Set([1, 2, 3, 4, 5]), startMin: 8 * 60, endMin: 20 * 60, timeZone: "UTC" }, kinds: ["generate_images", "transcribe_audio", "render_video"], ttlS: 900, minContainers: undefined });
});

test("WARM_ENABLED takes 1/0, true/false, yes/no, on/off in any case", () => {
  for (const v of ["0", "false", "FALSE", "no", "Off", " off "]) assert.equal(loadConfig({ WARM_ENABLED: v }).warm.enabled, false, v);
  for (const v of ["1", "true", "True", "yes", "ON"]) assert.equal(loadConfig({ WARM_ENABLED: v }).warm.enabled, true, v);
  assert.equal(loadConfig({}).warm.enabled, true);
});
