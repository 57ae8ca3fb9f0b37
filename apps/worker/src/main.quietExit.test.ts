/**
 * The line that says why the worker will not start appears whatever LOG_LEVEL says: with
 * LOG_LEVEL=fatal or silent, `bad_config` and `start_failed` (logged at error) were dropped,
 * and the worker exited 2 or 1 with no output at all, where the README promises one JSON line
 * naming the reason.
 */
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { test } from "node:test";
import { runMain } from "../test/support/runMain.ts";
import { tempDir } from "../test/support/tmp.ts";

const run = runMain;

for (const level of ["fatal", "silent", "SILENT"]) {
  test(`LOG_LEVEL=${level}: a refused setting still logs its one bad_config line`, { timeout: 60_000 }, async () => {
    const dir = tempDir("cc-main-quiet-");
    try {
      const r = await run({ LOG_LEVEL: level, WARM_ENABLED: "1", WARM_TZ: "Mars/Olympus_Mons" }, dir.path);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.lines.length, 1, `only the reason: ${JSON.stringify(r.lines)}`);
      assert.equal(r.lines[0]?.event, "bad_config");
      assert.match(String(r.lines[0]?.err), /WARM_TZ/);
    } finally {
      dir.cleanup();
    }
  });
}

test("LOG_LEVEL=silent: a start-up that fails still logs its one start_failed line", { timeout: 60_000 }, async () => {
  const dir = tempDir("cc-main-quiet-");
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
  try {
    const port = (blocker.address() as import("node:net").AddressInfo).port;
    const r = await run({ LOG_LEVEL: "silent", WORKER_PORT: String(port), WORKER_HOST: "127.0.0.1" }, dir.path);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.lines.length, 1, `only the reason: ${JSON.stringify(r.lines)}`);
    assert.equal(r.lines[0]?.event, "start_failed");
    assert.match(String(r.lines[0]?.err), /EADDRINUSE/);
  } finally {
    blocker.close();
    dir.cleanup();
  }
});
