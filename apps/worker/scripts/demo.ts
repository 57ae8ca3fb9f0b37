/**
 * `make demo`: the whole path on one machine with no credentials.
 *
 *   1. start the compute plane (`canvascast serve`, images fall back to placeholders);
 *   2. upload examples/explainer.wav to its artifact store (the key must match the JSON);
 *   3. start the worker (PGlite, local store) and submit examples/explainer.json;
 *   4. follow the render's server-sent events, drawing a progress bar per step;
 *   5. print the MP4's path and its signed URL.
 *
 * Env: DEMO_DATA_DIR (default <repo>/.canvascast/demo); DEMO_HEIGHT, DEMO_FPS and DEMO_ASPECT
 * (16:9, 9:16 or 1:1) override the request's.
 */
import { readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { startApp } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";
import { log } from "../src/log.ts";
import { ComputeServer, freePort, REPO } from "../test/support/computeServer.ts";

const dataDir = process.env.DEMO_DATA_DIR ?? join(REPO, ".canvascast", "demo");
const TOKEN = "demo-compute-token";
const OWNER_TOKEN = "demo-owner-token";
rmSync(join(dataDir, "worker-db"), { recursive: true, force: true }); // fresh queue each run; the store keeps its cache

const say = (s: string) => process.stdout.write(s + "\n");
// The demo keeps to this machine whatever the shell exports (an ARTIFACT_STORE=supabase or a
// MODAL_COMPUTE_URL set for other work): the local store and the in-house compute plane only.
const LOCAL_ONLY = { ARTIFACT_STORE: "local", MODAL_COMPUTE_URL: "" };
const compute = new ComputeServer({ dataDir, token: TOKEN, env: { ...LOCAL_ONLY, IMAGE_FALLBACK: "placeholder" } });
let app: Awaited<ReturnType<typeof startApp>> | null = null;

async function main(): Promise<void> {
  say(`• starting the compute plane (canvascast serve) in ${dataDir}`);
  compute.port = (await portFree(8000)) ? 8000 : await freePort();
  await compute.start(120_000);
  say(`  compute plane at ${compute.url}`);

  const request = JSON.parse(readFileSync(join(REPO, "examples/explainer.json"), "utf8"));
  const wav = readFileSync(join(REPO, "examples/explainer.wav"));
  const up = await fetch(`${compute.url}/v1/artifacts?ext=wav`, {
    method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "audio/wav" }, body: wav,
  });
  const ref = (await up.json()) as { key: string };
  if (!up.ok || ref.key !== request.narration_audio) throw new Error(`narration upload gave ${JSON.stringify(ref)}, expected ${request.narration_audio}`);
  say(`• narration uploaded: ${ref.key}`);
  if (process.env.DEMO_HEIGHT) request.height = Number(process.env.DEMO_HEIGHT);
  if (process.env.DEMO_FPS) request.fps = Number(process.env.DEMO_FPS);
  if (process.env.DEMO_ASPECT) request.aspect_ratio = process.env.DEMO_ASPECT;

  const port = await freePort();
  app = await startApp(
    loadConfig({
      ...process.env, ...LOCAL_ONLY, CANVASCAST_DATA_DIR: dataDir, COMPUTE_URL: compute.url, COMPUTE_TOKEN: TOKEN,
      WORKER_TOKENS: `${OWNER_TOKEN}:demo`, WORKER_PORT: String(port), WARM_ENABLED: "0", WORKER_HEARTBEAT_MS: "2000",
      DATABASE_URL: "",
    }),
    // LOG_LEVEL as log.ts read it (any case, trimmed; loadConfig above refused any other), else warn.
    { poll: { minIntervalMs: 200, maxIntervalMs: 1000 }, log: log.child({}, { level: process.env.LOG_LEVEL?.trim() ? log.level : "warn" }) },
  );
  say(`• worker at ${app.url} (database: ${app.db.kind})`);

  const headers = { authorization: `Bearer ${OWNER_TOKEN}`, "content-type": "application/json" };
  const sub = await fetch(`${app.url}/v1/renders`, { method: "POST", headers: { ...headers, "idempotency-key": `demo-${Date.now()}` }, body: JSON.stringify(request) });
  const render = (await sub.json()) as { id: string };
  if (!sub.ok) throw new Error(`submit failed: ${JSON.stringify(render)}`);
  say(`• render ${render.id} submitted: "${request.title}", ${request.scenes.length} scenes`);

  const final = await follow(`${app.url}/v1/renders/${render.id}/events`, headers.authorization);
  if (final.status !== "succeeded") throw new Error(`render ${final.status}: ${JSON.stringify(final.error)}`);
  const video = final.result.video as { key: string; url: string; size: number; sha256: string };
  say("");
  say(`✔ MP4:        ${join(dataDir, "store", video.key)}`);
  say(`  signed URL: ${video.url}`);
  say(`              (served while a compute plane runs on this data dir: CANVASCAST_DATA_DIR=${dataDir} .venv/bin/canvascast serve)`);
  say(`  ${(video.size / 1e6).toFixed(1)} MB, sha256 ${video.sha256.slice(0, 16)}…, ${final.result.captions} caption words, ${(final.result.duration_ms / 1000).toFixed(1)} s`);
}

interface RenderView {
  status: string;
  error: unknown;
  result: { video: unknown; captions: number; duration_ms: number };
  steps: Array<{ step: string; status: string; backend: string | null; progress: { done?: number; total?: number | null; unit?: string; message?: string } }>;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

function bar(done = 0, total?: number | null): string {
  if (!total) return "[" + " ".repeat(20) + "]";
  const n = Math.max(0, Math.min(20, Math.round((done / total) * 20)));
  return "[" + "#".repeat(n) + " ".repeat(20 - n) + "]";
}

async function follow(url: string, auth: string): Promise<RenderView> {
  const res = await fetch(url, { headers: { authorization: auth } });
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = "";
  let last: RenderView | null = null;
  const shown = new Map<string, string>();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i: number;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const chunk = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const event = /^event: (.*)$/m.exec(chunk)?.[1];
      const data = /^data: (.*)$/m.exec(chunk)?.[1];
      if (event !== "render" || !data) continue;
      last = JSON.parse(data) as RenderView;
      for (const s of last.steps) {
        const p = s.progress ?? {};
        const head = `  ${s.step.padEnd(8)} ${bar(p.done, p.total)} ${s.status.padEnd(10)} ${(s.backend ?? "").padEnd(8)}`;
        const key = `${head}|${(p.message ?? "").slice(0, 20)}`;
        if (shown.get(s.step) !== key) {
          shown.set(s.step, key);
          say(`${head} ${p.total ? `${p.done}/${p.total} ${p.unit ?? ""}` : ""} ${(p.message ?? "").slice(0, 50)}`);
        }
      }
    }
  }
  if (!last) throw new Error("no events");
  return last;
}

let stopping = false;
async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    await app?.stop().catch(() => undefined);
    await compute.stop().catch(() => undefined);
  }
  process.exit(code);
}
// Ctrl-C or a kill: stop the worker and the compute plane (its own process group, so the
// terminal's SIGINT never reaches it; it also exits by itself if this process dies).
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(sig, () => {
    process.stderr.write(`\ndemo interrupted (${sig}): stopping the worker and the compute plane\n`);
    void shutdown(130);
  });
}

main()
  .then(() => shutdown(0))
  .catch((e) => {
    process.stderr.write(`demo failed: ${e instanceof Error ? e.message : e}\n  compute plane log: ${join(dataDir, "serve.log")}\n`);
    if (process.env.DEBUG) process.stderr.write(`${e instanceof Error ? e.stack : ""}\n${compute.logTail(2000)}\n`);
    return shutdown(1);
  });
