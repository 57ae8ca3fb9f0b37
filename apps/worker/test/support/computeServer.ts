/**
 * Run a real `canvascast serve` (the Python compute plane) on a free 127.0.0.1 port, the way
 * tests and the demo need it: its own data dir, token, optional pool sizes (a modal.toml
 * copy with [inhouse.<kind>] rewritten), `--backend-name modal` for the stand-in Modal
 * backend, and fault injection. kill() is SIGKILL of the process group, as a crash.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, openSync, readFileSync, writeFileSync, closeSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = resolve(fileURLToPath(import.meta.url), "../../../../..");
export const PYTHON = join(REPO, ".venv/bin/python");

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

export interface ComputeServerOptions {
  dataDir: string;
  token?: string;
  backendName?: "inhouse" | "modal";
  kinds?: string[];
  faultInjection?: boolean;
  /** kind -> {workers, queue}: rewrites the [inhouse.<kind>] table of a modal.toml copy. */
  pools?: Record<string, { workers: number; queue: number }>;
  env?: Record<string, string>;
  port?: number;
}

export class ComputeServer {
  proc: ChildProcess | null = null;
  port = 0;
  constructor(readonly opts: ComputeServerOptions) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private modalToml(): string | undefined {
    if (!this.opts.pools) return undefined;
    let text = readFileSync(join(REPO, "modal.toml"), "utf8");
    for (const [kind, p] of Object.entries(this.opts.pools)) {
      const re = new RegExp(`(\\[inhouse\\.${kind}\\]\\n)workers = \\d+\\nqueue = \\d+`);
      if (!re.test(text)) throw new Error(`modal.toml has no [inhouse.${kind}] workers/queue`);
      text = text.replace(re, `$1workers = ${p.workers}\nqueue = ${p.queue}`);
    }
    const path = join(this.opts.dataDir, "modal.toml");
    writeFileSync(path, text);
    return path;
  }

  async start(timeoutMs = 60_000): Promise<this> {
    mkdirSync(this.opts.dataDir, { recursive: true });
    if (!this.port) this.port = this.opts.port ?? (await freePort());
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/^(COMPUTE_|CANVASCAST_)/.test(k)) env[k] = v;
    Object.assign(env, {
      CANVASCAST_DATA_DIR: this.opts.dataDir,
      CANVASCAST_ENV: "local",
      COMPUTE_PORT: String(this.port),
      PYTHONUNBUFFERED: "1",
      CANVASCAST_EXIT_WITH_PARENT: "1", // a killed test run or demo must not leave the server behind
      ...(this.opts.token ? { COMPUTE_TOKEN: this.opts.token } : {}),
      ...this.opts.env,
    });
    const toml = this.modalToml();
    if (toml) env.CANVASCAST_MODAL_TOML = toml;
    const args = ["-m", "modal_functions.cli", "serve", "--host", "127.0.0.1", "--port", String(this.port), "--no-access-log"];
    if (this.opts.backendName) args.push("--backend-name", this.opts.backendName);
    if (this.opts.kinds) args.push("--kinds", this.opts.kinds.join(","));
    if (this.opts.faultInjection) args.push("--fault-injection");
    const logFd = openSync(join(this.opts.dataDir, "serve.log"), "a");
    this.proc = spawn(PYTHON, args, { cwd: REPO, env, stdio: ["ignore", logFd, logFd], detached: true });
    closeSync(logFd);
    const exited = new Promise<never>((_, rej) =>
      this.proc!.once("exit", (code) => rej(new Error(`canvascast serve exited ${code}: ${this.logTail()}`))),
    );
    exited.catch(() => undefined);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.proc.exitCode !== null) await exited;
      try {
        const r = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(1000) });
        if (r.ok) break;
      } catch {
        /* not up yet */
      }
      if (Date.now() > deadline) {
        this.kill();
        throw new Error(`canvascast serve not healthy within ${timeoutMs} ms: ${this.logTail()}`);
      }
      await new Promise((r) => setTimeout(r, 25)); // readiness-probe interval
    }
    return this;
  }

  logTail(n = 3000): string {
    try {
      return readFileSync(join(this.opts.dataDir, "serve.log"), "utf8").slice(-n);
    } catch {
      return "";
    }
  }

  private headers(): Record<string, string> {
    return { "content-type": "application/json", ...(this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {}) };
  }

  async fault(mode: "none" | "fail" | "stall" | "capacity" | "refuse" | "refuse_next_n", extra: Record<string, unknown> = {}): Promise<void> {
    const post = () => fetch(`${this.url}/v1/_faults`, { method: "POST", headers: this.headers(), body: JSON.stringify({ mode, ...extra }) });
    // Once more on a dropped connection: fetch reuses the keep-alive socket of an earlier call
    // (the readiness probe), and uvicorn closes idle ones after 5 s, racing a call that comes
    // just then ("other side closed"). Setting a fault is idempotent.
    const r = await post().catch((e: unknown) => {
      if (e instanceof TypeError) return post();
      throw e;
    });
    if (!r.ok) throw new Error(`fault ${mode}: ${r.status} ${await r.text()}`);
  }

  async job(id: string): Promise<Record<string, unknown>> {
    const r = await fetch(`${this.url}/v1/jobs/${id}`, { headers: this.headers() });
    return (await r.json()) as Record<string, unknown>;
  }

  kill(): void {
    if (!this.proc || this.proc.exitCode !== null) return;
    try {
      process.kill(-this.proc.pid!, "SIGKILL");
    } catch {
      /* gone */
    }
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise((r) => p.once("exit", r));
    try {
      process.kill(-p.pid!, "SIGTERM");
    } catch {
      return;
    }
    const t = setTimeout(() => this.kill(), 10_000);
    await gone;
    clearTimeout(t);
    this.kill(); // stray pool workers in the group, if any
  }
}
