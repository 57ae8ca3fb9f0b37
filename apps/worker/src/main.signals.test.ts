/**
 * main.ts as production starts it: a SIGTERM that lands while the worker is still starting
 * (migrations, database, port) stops it cleanly with exit code 0. Without a handler in
 * place yet, node would die of the signal (and, as a container's PID 1, ignore it until
 * the platform's SIGKILL).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { test } from "node:test";
import { tempDir } from "../test/support/tmp.ts";

/** The worker's API role on PGlite in `dataDir`, logging JSON lines to its stdout. */
function startWorker(command: string, args: string[], dataDir: string): ReturnType<typeof spawn> {
  return spawn(command, args, {
    cwd: new URL("..", import.meta.url).pathname,
    stdio: ["ignore", "pipe", "inherit"],
    env: {
      ...process.env, NODE_TEST_CONTEXT: "", LOG_LEVEL: "info", WORKER_ROLE: "api", WARM_ENABLED: "0",
      CANVASCAST_DATA_DIR: dataDir, WORKER_PORT: "0", DATABASE_URL: "", WORKER_TOKENS: "t:o",
    },
  });
}

test("SIGTERM during start-up: start-up finishes, the app stops, exit code 0", { timeout: 120_000 }, async () => {
  const dir = tempDir("cc-main-signal-");
  let p: ReturnType<typeof spawn> | undefined;
  try {
    p = startWorker(process.execPath, ["--import", "tsx", "src/main.ts"], dir.path);
    const exited = once(p, "exit");
    const events: string[] = [];
    const lines = createInterface({ input: p.stdout! });
    for await (const line of lines) {
      const event = (JSON.parse(line) as { event?: string }).event ?? "";
      events.push(event);
      if (event === "starting") p.kill("SIGTERM"); // start-up (PGlite, migrations) is under way
    }
    const [code, signal] = await exited;
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, `events: ${events.join(", ")}`);
    assert.ok(events.includes("shutdown"), `events: ${events.join(", ")}`);
  } finally {
    if (p && p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    dir.cleanup();
  }
});

test("npm start: a SIGTERM to npm stops the worker too (no node left listening)", { timeout: 120_000 }, async () => {
  const dir = tempDir("cc-npm-start-");
  let p: ReturnType<typeof spawn> | undefined;
  let url = "";
  try {
    p = startWorker("npm", ["start", "--silent"], dir.path);
    const exited = once(p, "exit");
    const lines = createInterface({ input: p.stdout! });
    p.once("exit", () => lines.close()); // a node left behind would hold the pipe open
    for await (const line of lines) {
      if (!line.startsWith("{")) continue;
      const entry = JSON.parse(line) as { event?: string; url?: string };
      if (entry.event === "api_listening") {
        url = entry.url!;
        p.kill("SIGTERM"); // to npm, as a supervisor that runs `npm start` would
      }
    }
    await exited;
    assert.ok(url, "the worker started");
    // Without `exec` in the script, npm's shell kept the signal from node: it went on serving.
    await assert.rejects(fetch(`${url}/health`), "nothing listens once npm is gone");
  } finally {
    if (p && p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    dir.cleanup();
  }
});
