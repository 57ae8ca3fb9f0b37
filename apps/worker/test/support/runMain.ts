/** Run the real `src/main.ts` as an operator starts it, and collect its JSON log lines and exit code. */
import { spawn } from "node:child_process";
import { once } from "node:events";

export interface MainRun {
  code: number | null;
  lines: Record<string, unknown>[];
  stderr: string;
}

/** `env` on top of an API-only worker on PGlite in `dataDir`, port 0, warm-up off, token t:o. */
export async function runMain(env: Record<string, string>, dataDir: string): Promise<MainRun> {
  const p = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: new URL("../..", import.meta.url).pathname,
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
