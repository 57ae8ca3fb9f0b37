// The render sidecar: one long-lived Node process per render worker.
//
// It holds the pre-built bundle and its open browsers (Debian chromium, offline; one
// per frame rendered at once, --browsers, see browsers.mjs), serves the job assets
// from its serve directory over 127.0.0.1, and renders on request. Protocol: one JSON
// object per line on stdin (requests) and stdout (replies); everything else Remotion
// prints goes to stderr.
//
//   -> {"id":"1","type":"render","props":{...},"output":"/x.mp4","codec":"h264",...}
//   <- {"id":"1","type":"progress","rendered":10,"encoded":8,"total":90}
//   <- {"id":"1","type":"done","frames":90,"seconds":7.5,...}  | {"id":"1","type":"error",...}
//   -> {"id":"2","type":"combine",...}   -> {"id":"3","type":"cancel","target":"1"}
//   -> {"id":"4","type":"ping"}
//
// Started by modal_functions/render/sidecar.py (which respawns it if it dies, on the
// same port: --port). It exits when stdin closes, so it never outlives its worker.
import {
  combineChunks,
  makeCancelSignal,
  openBrowser,
  RenderInternals,
  renderMedia,
  selectComposition,
} from "@remotion/renderer";
import fs from "node:fs";
import { allAnswer, makeBrowserSet } from "./browsers.mjs";
import http from "node:http";
import path from "node:path";
import readline from "node:readline";
import util from "node:util";

const COMPOSITION_ID = "Explainer";
const PROGRESS_EVERY_MS = 250;

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, cur, i, all) => {
    if (cur.startsWith("--")) acc.push([cur.slice(2), all[i + 1]]);
    return acc;
  }, []),
);
const bundleDir = path.resolve(args.bundle);
const serveDir = path.resolve(args.serve);
const browserExecutable = args.browser ?? "/usr/bin/chromium";
const chromeMode = args["chrome-mode"] ?? "headless-shell";
const logLevel = args["log-level"] ?? "error";
// Browsers opened at start: a render's default concurrency (one tab in each).
const startBrowsers = Math.max(1, Number(args.browsers ?? 1));

// stdout is the protocol: route every console.* to stderr.
const toStderr = (...a) => process.stderr.write(util.format(...a) + "\n");
console.log = toStderr;
console.info = toStderr;
console.warn = toStderr;
console.debug = toStderr;

const send = (msg) => process.stdout.write(JSON.stringify(msg) + "\n");

// ---- static server for job assets (scene images, narration, music) ----------
const MIME = {
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".webp": "image/webp",
  ".gif": "image/gif",
  ".svg": "image/svg+xml",
  ".mp3": "audio/mpeg",
  ".wav": "audio/wav",
  ".m4a": "audio/mp4",
  ".aac": "audio/aac",
  ".ogg": "audio/ogg",
  ".opus": "audio/ogg",
  ".flac": "audio/flac",
};

const server = http.createServer((req, res) => {
  let rel;
  try {
    rel = decodeURIComponent(new URL(req.url, "http://127.0.0.1").pathname).replace(/^\/+/, "");
  } catch {
    // a malformed escape: thrown out of this handler, it ended the process and its renders
    res.writeHead(400).end();
    return;
  }
  const file = path.resolve(serveDir, rel);
  if (!file.startsWith(serveDir + path.sep)) {
    res.writeHead(403).end();
    return;
  }
  fs.stat(file, (err, st) => {
    if (err || !st.isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {
      "Content-Type": MIME[path.extname(file).toLowerCase()] ?? "application/octet-stream",
      "Content-Length": st.size,
      "Access-Control-Allow-Origin": "*",
      "Cache-Control": "no-store",
    });
    if (req.method === "HEAD") return res.end();
    // An unhandled stream error ends the process: a file removed after the stat (a job's
    // assets cleaned up while another worker's chunk still reads them) only ends this reply.
    fs.createReadStream(file)
      .on("error", () => res.destroy())
      .pipe(res);
  });
});

const listen = (port) =>
  new Promise((resolve, reject) => {
    const onError = (err) => {
      server.off("listening", onListening);
      reject(err);
    };
    const onListening = () => {
      server.off("error", onError);
      resolve();
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(port, "127.0.0.1");
  });

// ---- render / combine --------------------------------------------------------
const cancels = new Map();
let queue = Promise.resolve(); // one request at a time: the browsers share the cores
let using = []; // the browsers the render in progress has its tabs in
let closing = false; // stdin closed: we close the browsers ourselves

const browsers = makeBrowserSet({
  open: () =>
    openBrowser("chrome", {
      browserExecutable,
      chromeMode,
      logLevel,
      chromiumOptions: {
        headless: true,
        gl: args.gl ?? null,
        enableMultiProcessOnLinux: (args["multi-process"] ?? "true") !== "false",
      },
    }),
  // A browser died (a crash, the OOM killer): its DevTools socket closes. A render using
  // it may then never settle, so exit: the supervisor sees a retryable sidecar_crashed and
  // respawns a clean sidecar. One the render in progress does not use (or any, while idle)
  // is replaced before the next render (ensureBrowsers).
  onGone: (browser) => {
    if (closing) return;
    toStderr("a browser is gone");
    if (using.includes(browser)) {
      toStderr("exiting for respawn");
      process.exit(3);
    }
  },
});

const throttled = (id) => {
  let last = 0;
  return (payload, force = false) => {
    const now = Date.now();
    if (force || now - last >= PROGRESS_EVERY_MS) {
      last = now;
      send({ id, type: "progress", ...payload });
    }
  };
};

const render = async (id, req) => {
  const started = Date.now();
  const { cancelSignal, cancel } = makeCancelSignal();
  cancels.set(id, cancel);
  const progress = throttled(id);
  try {
    // Remotion refuses more tabs than its count of this machine's cores (nproc, the
    // affinity): a RENDER_CONCURRENCY above it renders with that many, not a failed render.
    const concurrency = Math.min(Math.max(1, Number(req.concurrency ?? startBrowsers)), RenderInternals.getMaxConcurrency());
    // Every browser we keep, not only the ones this render uses, answers or is replaced now;
    // after cancels.set: a cancel meanwhile still reaches renderMedia.
    await ensureBrowsers(concurrency);
    // No await since ensure's last check: a browser that dies from here on ends this render.
    using = browsers.take(concurrency);
    // The caller may pass the metadata it already computed from the props (the same
    // sums as calculateMetadata, with every default filled in): that skips opening a
    // tab just to evaluate the bundle. Otherwise ask the composition.
    const composition = req.composition
      ? {
          id: COMPOSITION_ID,
          width: req.composition.width,
          height: req.composition.height,
          fps: req.composition.fps,
          durationInFrames: req.composition.durationInFrames,
          defaultProps: {},
          props: req.props,
          defaultCodec: null,
          defaultOutName: null,
          defaultVideoImageFormat: null,
          defaultPixelFormat: null,
          defaultProResProfile: null,
          defaultSampleRate: null,
        }
      : await selectComposition({
          serveUrl: bundleDir,
          id: COMPOSITION_ID,
          inputProps: req.props,
          puppeteerInstance: using[0],
          browserExecutable,
          chromeMode,
          logLevel,
        });
    const total = req.frameRange
      ? req.frameRange[1] - req.frameRange[0] + 1
      : composition.durationInFrames;
    progress({ rendered: 0, encoded: 0, total, stage: "start" }, true);
    const selected = Date.now();
    await renderMedia({
      composition,
      serveUrl: bundleDir,
      inputProps: req.props,
      codec: req.codec ?? "h264",
      audioCodec: req.audioCodec ?? "aac",
      outputLocation: req.output,
      crf: req.crf ?? null,
      x264Preset: req.x264Preset ?? null,
      pixelFormat: req.pixelFormat ?? "yuv420p",
      imageFormat: req.imageFormat ?? "jpeg",
      jpegQuality: req.jpegQuality ?? undefined,
      concurrency,
      frameRange: req.frameRange ?? null,
      separateAudioTo: req.separateAudioTo ?? undefined,
      forSeamlessAacConcatenation: req.forSeamlessAacConcatenation ?? false,
      puppeteerInstance: browsers.instance(using),
      browserExecutable,
      chromeMode,
      logLevel,
      overwrite: true,
      enforceAudioTrack: true,
      cancelSignal,
      onProgress: (p) =>
        progress({
          rendered: p.renderedFrames,
          encoded: p.encodedFrames,
          total,
          stage: p.stitchStage,
        }),
    });
    progress({ rendered: total, encoded: total, total, stage: "done" }, true);
    send({
      id,
      type: "done",
      frames: total,
      seconds: (Date.now() - started) / 1000,
      renderSeconds: (Date.now() - selected) / 1000,
      width: composition.width,
      height: composition.height,
      fps: composition.fps,
      durationInFrames: composition.durationInFrames,
    });
  } finally {
    cancels.delete(id);
  }
};

const combine = async (id, req) => {
  const started = Date.now();
  const { cancelSignal, cancel } = makeCancelSignal();
  cancels.set(id, cancel);
  try {
    await combineChunks({
      outputLocation: req.output,
      videoFiles: req.videoFiles,
      audioFiles: req.audioFiles,
      codec: req.codec ?? "h264",
      audioCodec: req.audioCodec ?? "aac",
      fps: req.fps,
      framesPerChunk: req.framesPerChunk,
      compositionDurationInFrames: req.compositionDurationInFrames,
      preferLossless: false,
      logLevel,
      cancelSignal,
    });
    send({ id, type: "done", seconds: (Date.now() - started) / 1000 });
  } finally {
    cancels.delete(id);
  }
};

// Browsers that died while we were idle are replaced before the next render needs them.
const ensureBrowsers = async (count) => {
  try {
    await browsers.ensure(count, toStderr);
  } catch (err) {
    // Not this render's fault (chromium cannot start right after an OOM kill, /dev/shm full):
    // exit, so it is a retryable sidecar_crashed, as the same failure at start-up is.
    toStderr(`could not open a new browser (${String(err?.message ?? err)}); exiting for respawn`);
    process.exit(3);
  }
};

const handle = (req) => {
  const id = String(req.id ?? "");
  if (req.type === "ping") return send({ id, type: "done", pong: true });
  if (req.type === "cancel") {
    cancels.get(String(req.target))?.();
    return send({ id, type: "cancelled", target: req.target });
  }
  if (req.type !== "render" && req.type !== "combine") {
    return send({ id, type: "error", code: "bad_request", message: `unknown request type ${req.type}` });
  }
  queue = queue.then(async () => {
    try {
      if (req.type === "render") await render(id, req);
      else await combine(id, req);
    } catch (err) {
      const message = String(err?.message ?? err);
      if (using.length && !closing && !(await allAnswer(using))) {
        // The browser died under this render ("Page crashed!", "Target closed"): not the
        // render's fault, so no error reply, which the supervisor would take as final.
        // Exiting makes it a retryable sidecar_crashed and gets us respawned clean.
        toStderr(`the browser is gone (${message}); exiting for respawn`);
        process.exit(3);
      }
      // Only the tab's renderer died (Remotion's "Page crashed!"; the OOM killer picks the
      // biggest process, often that one): nothing in the job was wrong and the browser
      // serves on, so the supervisor may retry it (`renderer_crashed`), not fail it for good.
      const code = /cancel/i.test(message)
        ? "cancelled"
        : /Page crashed!/.test(message)
          ? "renderer_crashed"
          : "render_failed";
      send({
        id,
        type: "error",
        code,
        message,
        stack: String(err?.stack ?? ""),
      });
    } finally {
      using = [];
    }
  });
};

const main = async () => {
  if (!fs.existsSync(path.join(bundleDir, "index.html"))) {
    throw new Error(`no bundle at ${bundleDir}`);
  }
  fs.mkdirSync(serveDir, { recursive: true });
  // A respawned sidecar asks for its predecessor's port (--port): the props of renders
  // in flight carry that base URL. If the port is taken now, any free port will do; the
  // supervisor sees the new port in "ready" and rebases the URLs.
  const wanted = Number(args.port ?? 0);
  try {
    await listen(wanted);
  } catch (err) {
    if (wanted === 0 || err?.code !== "EADDRINUSE") throw err;
    toStderr(`port ${wanted} is taken; serving on another port`);
    await listen(0);
  }
  const started = Date.now();
  await browsers.ensure(startBrowsers);
  send({
    type: "ready",
    pid: process.pid,
    port: server.address().port,
    chromeMode,
    browsers: browsers.size,
    browserSeconds: (Date.now() - started) / 1000,
  });
  const rl = readline.createInterface({ input: process.stdin });
  rl.on("line", (line) => {
    if (!line.trim()) return;
    let req;
    try {
      req = JSON.parse(line);
    } catch (err) {
      return send({ type: "error", code: "bad_request", message: `malformed JSON: ${err.message}` });
    }
    handle(req);
  });
  rl.on("close", async () => {
    // Our worker went away: never outlive it.
    closing = true;
    for (const cancel of cancels.values()) cancel();
    await browsers.closeAll();
    process.exit(0);
  });
};

main().catch((err) => {
  send({ type: "fatal", message: String(err?.message ?? err), stack: String(err?.stack ?? "") });
  process.exit(1);
});
