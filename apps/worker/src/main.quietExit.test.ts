/**
 * The line that says why the worker will not start appears whatever LOG_LEVEL says: with
 * LOG_LEVEL=fatal or silent, `bad_config` and `start_failed` (logged at error) were dropped,
 * and the worker exited 2 or 1 with no output at all, where the README promises one JSON line
 * naming the reason.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { test } from "node:test";
import { tempDir } from "../test/support/tmp.ts";

async function run(env: Record<string, string>, dataDir: string): Promise<{ code: number | null; lines: Record<string, unknown>[]; stderr: string }> {
  const p = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: new URL("..", import.meta.url).pathname,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env, NODE_TEST_CONTEXT: "", WORKER_ROLE: "api", WARM_ENABLED: "0",
      CANVASCAST_DATA_DIR: dataDir, WORKER_PORT: "0", DATABASE_URL: "", WORKER_TOKENS: "t:o", ...env,
    },
  });
  let out = "";
  let stderr = "";
  p.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  p.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
  const [code] = await once(p, "exit");
  const lines = out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code: code as number | null, lines, stderr };
}

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
