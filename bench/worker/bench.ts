/**
 * Measurements for bench/worker/run.py (prints one JSON object):
 *   1. the compute client's overhead per call: ComputeClient.get (retry + breaker + timeout
 *      policies, JSON parse) vs a raw fetch of the same URL, interleaved one-for-one against
 *      a stub server in another process, p50/p99 of each;
 *   2. queue claims per second on a real local Postgres: 4 claimer processes vs 1 (baseline).
 * Usage: node --import tsx bench/worker/bench.ts <calls> <jobs>
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ComputeClient } from "../../apps/worker/src/client/modal-client.ts";
import { createTestDatabase } from "../../apps/worker/test/support/postgres.ts";
import { runRace } from "../../apps/worker/test/support/race.ts";

const calls = Number(process.argv[2] ?? 2000);
const jobs = Number(process.argv[3] ?? 2000);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function clientOverhead() {
  const stub = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("./stub_server.ts", import.meta.url))], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve) => stub.stdout!.once("data", (d) => resolve(JSON.parse(String(d)).port)));
  const url = `http://127.0.0.1:${port}`;
  const client = new ComputeClient({ name: "inhouse", baseUrl: url, token: "t" });
  const raw = async () => {
    const r = await fetch(`${url}/v1/jobs/job_bench`, { headers: { authorization: "Bearer t", accept: "application/json" } });
    return r.json();
  };
  for (let i = 0; i < 200; i++) {
    await raw();
    await client.get("job_bench");
  }
  const rawMs: number[] = [];
  const clientMs: number[] = [];
  for (let i = 0; i < calls; i++) {
    let t = performance.now();
    await raw();
    rawMs.push(performance.now() - t);
    t = performance.now();
    await client.get("job_bench");
    clientMs.push(performance.now() - t);
  }
  stub.kill("SIGTERM");
  return {
    calls,
    raw: { p50: pct(rawMs, 50), p99: pct(rawMs, 99) },
    client: { p50: pct(clientMs, 50), p99: pct(clientMs, 99) },
  };
}

async function claims() {
  const out: Record<string, { workers: number; jobs: number; seconds: number; per_second: number; duplicates: number }> = {};
  for (const workers of [1, 4]) {
    const t = createTestDatabase("cc_bench");
    try {
      const r = await runRace(t.url, workers, jobs);
      out[`w${workers}`] = { workers, jobs, seconds: r.seconds, per_second: jobs / r.seconds, duplicates: r.duplicates };
    } finally {
      t.drop();
    }
  }
  return out;
}

const result = { overhead: await clientOverhead(), claims: await claims() };
process.stdout.write(JSON.stringify(result) + "\n");
