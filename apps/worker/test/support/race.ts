/** Run N claimer processes against one Postgres database holding `jobs` queued renders. */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { migrate } from "../../src/db/migrate.ts";
import { openPostgres } from "../../src/db/postgres.ts";

const CLAIMER = fileURLToPath(new URL("./claimer.ts", import.meta.url));
const WORKER_ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface RaceResult {
  jobs: number;
  perWorker: Array<{ worker: string; claims: number; seconds: number }>;
  duplicates: number;
  claimedOnce: number;
  seconds: number;
}

export async function runRace(url: string, workers: number, jobs: number): Promise<RaceResult> {
  const db = openPostgres(url, 2);
  await migrate(db);
  await db.exec(`
    create table if not exists claim_log (render_id uuid not null, worker text not null);
    create table if not exists claim_start (go int);
    create table if not exists claim_ready (worker text);
    truncate claim_log, claim_start, claim_ready;
    delete from render_jobs;`);
  await db.query(
    `insert into render_jobs (owner, request) select 'race', '{}'::jsonb from generate_series(1, $1)`,
    [jobs],
  );
  const procs = Array.from({ length: workers }, (_, i) =>
    new Promise<{ worker: string; claims: number; seconds: number }>((resolve, reject) => {
      const p = spawn(process.execPath, ["--import", "tsx", CLAIMER, url, `w${i}`], { cwd: WORKER_ROOT, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      p.stdout.on("data", (d) => (out += d));
      p.stderr.on("data", (d) => (err += d));
      p.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out.trim())) : reject(new Error(`claimer w${i} exited ${code}: ${err}`))));
    }));
  // Start them together once every process has connected (deadline: 60 s).
  const deadline = Date.now() + 60_000;
  while ((await db.query(`select 1 from claim_ready`)).length < workers) {
    if (Date.now() > deadline) throw new Error("claimers did not start");
    await new Promise((r) => setTimeout(r, 10));
  }
  await db.query(`insert into claim_start values (1)`);
  const perWorker = await Promise.all(procs);
  const [stats] = await db.query<{ duplicates: number; once: number }>(
    `select (select count(*) from (select render_id from claim_log group by render_id having count(*) > 1) d)::int as duplicates,
            (select count(distinct render_id) from claim_log)::int as once`,
  );
  await db.close();
  return {
    jobs,
    perWorker,
    duplicates: stats!.duplicates,
    claimedOnce: stats!.once,
    seconds: Math.max(...perWorker.map((w) => w.seconds)),
  };
}
