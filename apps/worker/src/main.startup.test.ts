/**
 * main.ts refusing to start: a bad setting is one JSON log line naming it and exit code 2,
 * with no stack trace on stderr (an operator reads the reason in Railway's log).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { runMain } from "../test/support/runMain.ts";
import { tempDir } from "../test/support/tmp.ts";

const run = (env: Record<string, string>, dataDir: string) => runMain({ LOG_LEVEL: "info", ...env }, dataDir);

test("a refused setting: one bad_config line naming it, exit 2, no stack trace", { timeout: 60_000 }, async () => {
  const dir = tempDir("cc-main-badcfg-");
  try {
    const r = await run({ WARM_ENABLED: "1", WARM_TZ: "Mars/Olympus_Mons" }, dir.path);
    assert.equal(r.code, 2, r.stderr);
    const bad = r.lines.filter((l) => l.event === "bad_config");
    assert.equal(bad.length, 1, JSON.stringify(r.lines));
    assert.match(String(bad[0]?.err), /WARM_TZ/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace on stderr");
  } finally {
    dir.cleanup();
  }
});

test("a start-up that fails after the config: one start_failed line, exit 1", { timeout: 60_000 }, async () => {
  const dir = tempDir("cc-main-startfail-");
  try {
    // The API role's port is taken by a plain TCP server, so listening fails after the database is up.
    const net = await import("node:net");
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as import("node:net").AddressInfo).port;
    try {
      const r = await run({ WORKER_PORT: String(port), WORKER_HOST: "127.0.0.1" }, dir.path);
      assert.equal(r.code, 1, r.stderr);
      const failed = r.lines.filter((l) => l.event === "start_failed");
      assert.equal(failed.length, 1, JSON.stringify(r.lines));
      assert.match(String(failed[0]?.err), /EADDRINUSE/);
    } finally {
      blocker.close();
    }
  } finally {
    dir.cleanup();
  }
});
