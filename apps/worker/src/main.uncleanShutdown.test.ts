/**
 * A SIGTERM whose graceful stop fails (here the database will not close) is an unclean
 * shutdown: exit 1 with one line that says so, whatever LOG_LEVEL. It was logged at error, so
 * with LOG_LEVEL=fatal or silent the worker exited 1 with no word of why, unlike `bad_config`
 * and `start_failed`. A stop that goes well logs nothing at error or above.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer, type AddressInfo } from "node:net";
import { test } from "node:test";
import { tempDir } from "../test/support/tmp.ts";
import { until } from "../test/support/until.ts";

const closeFails = new URL("../test/support/pgliteCloseFails.mjs", import.meta.url).href;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/** main.ts (API role, PGlite in a temp dir), SIGTERM once /health answers: exit code and JSON lines. */
async function sigtermOnceUp(env: Record<string, string>): Promise<{ code: number | null; lines: Record<string, unknown>[]; stderr: string }> {
  const dir = tempDir("cc-main-unclean-");
  const port = await freePort();
  const p = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: new URL("..", import.meta.url).pathname,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env, NODE_TEST_CONTEXT: "", WORKER_ROLE: "api", WARM_ENABLED: "0", CANVASCAST_DATA_DIR: dir.path,
      WORKER_HOST: "127.0.0.1", WORKER_PORT: String(port), DATABASE_URL: "", WORKER_TOKENS: "t:o", ...env,
    },
  });
  let out = "";
  let stderr = "";
  p.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  p.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
  try {
    const exited = once(p, "exit");
    // A worker at LOG_LEVEL=fatal never says it listens: its port answering says it.
    await until("the worker answers /health", () => fetch(`http://127.0.0.1:${port}/health`).then(() => true, () => false), 60_000);
    p.kill("SIGTERM");
    const [code] = await exited;
    const lines = out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
    return { code: code as number | null, lines, stderr };
  } finally {
    if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    dir.cleanup();
  }
}

for (const level of ["info", "fatal", "silent"]) {
  test(`LOG_LEVEL=${level}: a stop that fails exits 1 with its one unclean_shutdown line`, { timeout: 90_000 }, async () => {
    const r = await sigtermOnceUp({ LOG_LEVEL: level, NODE_OPTIONS: `--import ${closeFails}` });
    assert.equal(r.code, 1, r.stderr);
    const unclean = r.lines.filter((l) => l.event === "unclean_shutdown");
    assert.equal(unclean.length, 1, `the reason is logged: ${JSON.stringify(r.lines)} ${r.stderr}`);
    assert.match(String(unclean[0]?.err), /would not close/);
    if (level !== "info") assert.equal(r.lines.length, 1, `only the reason: ${JSON.stringify(r.lines)}`);
  });
}

test("a SIGTERM whose stop goes well: exit 0, nothing logged at error or above", { timeout: 90_000 }, async () => {
  const r = await sigtermOnceUp({ LOG_LEVEL: "info" });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.lines.some((l) => l.event === "shutdown"), JSON.stringify(r.lines));
  assert.deepEqual(r.lines.filter((l) => Number(l.level) >= 50), [], "a normal drain is not an error");
});
