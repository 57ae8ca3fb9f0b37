/**
 * Worker PROCESSES for end-to-end tests: `src/main.ts` run by node + tsx, exactly as
 * production starts it, with its log in a file of the test's temp dir. Every process
 * started through a `WorkerProcesses` is SIGKILLed by `killAll()` (the tests' `after`).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./computeServer.ts";

const WORKER_DIR = join(REPO, "apps/worker");

export class WorkerProcesses {
  readonly started: ChildProcess[] = [];

  /**
   * @param logDir where `<name>.log` goes
   * @param env what every worker of the test shares; a function, read at each start, because
   *   servers the workers talk to only know their ports once started
   */
  constructor(private readonly logDir: string, private readonly env: () => Record<string, string>) {}

  start(name: string): ChildProcess {
    const log = openSync(join(this.logDir, `${name}.log`), "a");
    const p = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      cwd: WORKER_DIR,
      stdio: ["ignore", log, log],
      env: {
        ...process.env,
        NODE_TEST_CONTEXT: "", LOG_LEVEL: "info", WORKER_ROLE: "worker", WARM_ENABLED: "0",
        ...this.env(),
      },
    });
    closeSync(log);
    this.started.push(p);
    return p;
  }

  killAll(): void {
    for (const p of this.started) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  }
}
