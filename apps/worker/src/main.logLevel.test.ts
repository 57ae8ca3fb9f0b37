/**
 * LOG_LEVEL as an operator sets it: empty means the default (README: "An empty value means
 * the default"), and a level pino does not know is a refused setting (one bad_config line,
 * exit 2), not an uncaught pino error with a stack trace before the first log line.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { runMain } from "../test/support/runMain.ts";
import { tempDir } from "../test/support/tmp.ts";

// A refused setting, so each run ends at loadConfig, before any database or port.
const run = (env: Record<string, string>, dataDir: string) => runMain({ WARM_ENABLED: "1", WARM_TZ: "Mars/Olympus_Mons", ...env }, dataDir);

test("LOG_LEVEL empty is the default level: the worker logs and reaches its config check", { timeout: 60_000 }, async () => {
  const dir = tempDir("cc-main-loglevel-");
  try {
    const r = await run({ LOG_LEVEL: "" }, dir.path);
    assert.equal(r.code, 2, r.stderr);
    assert.ok(r.lines.some((l) => l.event === "starting"), "info lines are logged");
    assert.match(String(r.lines.find((l) => l.event === "bad_config")?.err), /WARM_TZ/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace on stderr");
  } finally {
    dir.cleanup();
  }
});

test("an unknown LOG_LEVEL is a refused setting naming it: bad_config, exit 2, no stack trace", { timeout: 60_000 }, async () => {
  const dir = tempDir("cc-main-loglevel-");
  try {
    const r = await run({ LOG_LEVEL: "verbose", WARM_TZ: "UTC" }, dir.path);
    assert.equal(r.code, 2, r.stderr);
    const bad = r.lines.filter((l) => l.event === "bad_config");
    assert.equal(bad.length, 1, JSON.stringify(r.lines) + r.stderr);
    assert.match(String(bad[0]?.err), /LOG_LEVEL/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace on stderr");
  } finally {
    dir.cleanup();
  }
});
