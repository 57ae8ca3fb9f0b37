/**
 * The worker's HTTP API (fastify):
 *   POST   /v1/renders             submit a RenderRequest (Idempotency-Key header: one render per key)
 *   GET    /v1/renders             the caller's renders, newest first (?limit=&cursor=&status=; listRenders.ts)
 *   GET    /v1/renders/:id         status, steps and result (a succeeded render's video URL is signed afresh)
 *   DELETE /v1/renders/:id         cancel; cascades to the running compute jobs (close() waits for that, bounded)
 *   GET    /v1/renders/:id/events  server-sent events until the render is terminal
 *   GET    /health, GET /metrics   liveness + breaker states; prom-client metrics
 * Every error is {error: {code, message, retryable}} with a 4xx; another owner's render is 404.
 * /v1/ needs a bearer token: a static service token or a Supabase JWT (authenticate.ts); a
 * JWKS that cannot be fetched is 503 auth_unavailable; every refusal is counted by code
 * (canvascast_auth_failures_total). An event stream opened with a JWT ends when the JWT
 * expires (event `error`, code token_expired). /metrics needs METRICS_TOKEN when set.
 */
import { STATUS_CODES } from "node:http";
import Fastify, { errorCodes, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import secureJson from "secure-json-parse";
import type { Db } from "../db/db.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { Render } from "../contract.ts";
import { cancel, enqueue, getRender, listSteps, TERMINAL, type RenderRow, type StepRow } from "../queue/index.ts";
import { cancelComputeJobs } from "../pipeline/cancelComputeJobs.ts";
import { unpublishEnded } from "../pipeline/unpublish.ts";
import type { Router } from "../router/index.ts";
import type { Publisher } from "../storage/publisher.ts";
import { AuthError, checkMetricsToken, makeAuthenticator, type Caller } from "./authenticate.ts";
import type { JwtVerifier } from "./jwt.ts";
import { withFreshVideoUrl, type Resigning } from "./freshVideoUrl.ts";
import { listPage } from "./listRenders.ts";
import { validateRenderRequest, ValidationError } from "./validate.ts";
import { toRender } from "./view.ts";

export interface ApiDeps {
  db: Db;
  router: Router;
  metrics: Metrics;
  log: Logger;
  /** Static service tokens: token -> owner (WORKER_TOKENS). */
  tokens: Map<string, string>;
  /** Supabase users' JWTs (SUPABASE_JWKS_URL / SUPABASE_JWT_SECRET); without one, only static tokens. */
  jwt?: JwtVerifier;
  /** When set, /metrics requires `Bearer <metricsToken>`; unset, /metrics is open (scraped on a private network). */
  metricsToken?: string;
  maxAttempts?: number;
  onEnqueued?: () => void;
  eventsPollMs?: number;
  /** How long /health waits for `select 1` before answering 503 (ms). */
  healthTimeoutMs?: number;
  bodyLimit?: number;
  /** How long a read waits for the publisher to re-sign a video URL before serving the recorded one. */
  resignTimeoutMs?: number;
  /**
   * Re-signs a succeeded render's video URL on every read: the URL recorded at publish time
   * expires after SIGNED_URL_TTL_S and nothing else renews it. Signing writes nothing (the
   * row keeps the URL it was published with). Without one, the recorded URL is returned.
   */
  publisher?: Publisher;
  /** Open event streams one owner may hold; each polls the database (default 16). */
  maxStreamsPerOwner?: number;
  /** How long a client may take to send a whole request (headers and body), in ms (default 30 s). */
  requestTimeoutMs?: number;
  /** How long close() waits for the work a DELETE left running (compute cancel, unpublish), in ms (default 10 s). */
  drainTimeoutMs?: number;
  /** A DELETE's removal of what a cancelled render published failed: handed on to be tried again later. */
  onUnpublishFailed?: (renderId: string) => void;
}

class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly details?: unknown) {
    super(message);
  }
}

/** JSON with sorted keys: jsonb does not keep key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

/** The routes that read a request body; every other one takes none. */
const BODY_ROUTES = new Set(["POST /v1/renders"]);
const takesBody = (req: FastifyRequest) => BODY_ROUTES.has(`${req.method} ${req.routeOptions.url}`);

/**
 * Whether a request is for the token-guarded API: by the route it matched (the router
 * matches the %-decoded path, so "/%761/renders" is /v1/renders), or, when none matched,
 * by its path decoded the same way, so an unknown /v1/ path is a 401 before it is a 404.
 */
function underV1(req: FastifyRequest): boolean {
  const route = req.routeOptions.url;
  if (route !== undefined && !req.is404) return route.startsWith("/v1/");
  const path = req.url.split("?", 1)[0]!;
  try {
    return decodeURIComponent(path).startsWith("/v1/");
  } catch {
    return path.startsWith("/v1/");
  }
}

const errorBody = (code: string, message: string, details?: unknown, retryable = false) => ({
  error: { code, message, retryable, ...(details ? { details } : {}) },
});

export function buildApi(deps: ApiDeps): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: deps.bodyLimit ?? 1024 * 1024,
    forceCloseConnections: true,
    // A client trickling its request (slowloris) is cut off; 0, Node's default here, waits forever.
    requestTimeout: deps.requestTimeoutMs ?? 30_000,
    // Node enforces requestTimeout only when it sweeps its connections, every 30 s by default: a
    // trickling client then held its connection up to 30 s past the timeout.
    http: { connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor((deps.requestTimeoutMs ?? 30_000) / 2))) },
    // Errors fastify raises before routing (a bad %-escape, an over-long id) in our shape too.
    frameworkErrors: (err, req, reply) => {
      const r = reply as unknown as FastifyReply;
      if (err.code === "FST_ERR_MAX_PARAM_LENGTH") return r.code(404).send(errorBody("not_found", "no such render"));
      return r.code(400).send(errorBody("bad_url", `the URL ${JSON.stringify(req.url)} is not valid`));
    },
    // And those Node's HTTP parser raises before there is a request (a URL or headers over
    // 16 KiB, a request that does not arrive within requestTimeout, bytes that are not HTTP):
    // fastify's own answer there is {"error": "<reason phrase>", "statusCode"}, not our shape.
    clientErrorHandler: (err, socket) => {
      if (err.code === "ECONNRESET" || socket.destroyed) return;
      const [status, code, message]: [number, string, string] =
        err.code === "HPE_HEADER_OVERFLOW" ? [431, "headers_too_large", "the request's URL and headers are too large"]
        : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? [408, "request_timeout", "the request did not arrive in time"]
        : [400, "bad_request", "the request is not valid HTTP"];
      const body = JSON.stringify(errorBody(code, message, undefined, status === 408));
      if (socket.writable) {
        socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      }
      socket.destroy(err);
    },
  });
  const { db, metrics } = deps;
  // fastify's own JSON parser answers a body with a "__proto__" key (refused: prototype
  // poisoning) exactly as it answers one that is not JSON at all. Parsed here, the same way,
  // the refusal keeps its reason and is answered 400 unknown_field instead of malformed_json.
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (req, body, done) => {
    if (body === "") return takesBody(req) ? done(new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY(), undefined) : done(null, undefined);
    try {
      done(null, secureJson.parse(body as string, { protoAction: "error", constructorAction: "error" }));
    } catch (e) {
      done(e as Error, undefined);
    }
  });
  // Bodies are JSON only: fastify's text/plain parser would hand a string to the handler (a
  // 400 validation_error) where the API promises 415 unsupported_media_type. Any other type
  // is a 415 too, unless there is no body at all and the route takes none (a DELETE sent with
  // a Content-Type header out of habit), or there is no such route (its 404 comes first).
  app.removeContentTypeParser("text/plain");
  app.addContentTypeParser("*", (req, _payload, done) => {
    const empty = req.headers["transfer-encoding"] === undefined && (req.headers["content-length"] ?? "0") === "0";
    if (req.is404 || (empty && !takesBody(req))) return done(null, undefined);
    done(new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE(), undefined);
  });

  // Work a DELETE leaves running after it answers (the compute cancel, the unpublish): close()
  // waits for it, within drainTimeoutMs. Cut off by a shutdown, a compute job kept running
  // (and billing) or an MP4 stayed in storage; unbounded, a hung compute plane held the stop.
  const background = new Set<Promise<unknown>>();
  // Fired when close() stops waiting: the cancels still pending are abandoned (their steps left
  // alone, the database is closing) and the jobs they leave running logged (`cascade_abandoned`).
  const drained = new AbortController();
  const inBackground = (task: Promise<unknown>) => {
    const t: Promise<unknown> = task.finally(() => background.delete(t));
    background.add(t);
  };
  app.addHook("onClose", async () => {
    if (!background.size) return;
    deps.log.info({ event: "api_draining", tasks: background.size }, "waiting for the work cancelled renders left running");
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), deps.drainTimeoutMs ?? 10_000)));
    // A DELETE still being handled may add one while this waits: wait for those too.
    while (background.size) {
      if ((await Promise.race([Promise.allSettled([...background]), timedOut])) === "timeout") {
        deps.log.warn({ event: "api_drain_timeout", tasks: background.size }, "stopped without waiting for the rest of the work cancelled renders left running");
        drained.abort(new Error("api drain timed out"));
        break;
      }
    }
    clearTimeout(timer);
  });

  const authenticate = makeAuthenticator(deps.tokens, deps.jwt);
  // The onRequest hook authenticates every /v1/ request (async: a JWT may need the JWKS) and
  // records its caller here, so a handler reads it without verifying the token again.
  const callers = new WeakMap<FastifyRequest, Caller>();
  function caller(req: FastifyRequest): Caller {
    const c = callers.get(req);
    if (!c) throw new ApiError(401, "unauthorized", "a valid bearer token is required");
    return c;
  }
  const owner = (req: FastifyRequest): string => caller(req).owner;

  const resigning: Resigning = { publisher: deps.publisher, timeoutMs: deps.resignTimeoutMs, log: deps.log };
  /** The API's view of a row; a succeeded render's video gets a freshly signed URL. */
  async function present(row: RenderRow, steps: StepRow[]): Promise<Render> {
    return withFreshVideoUrl(toRender(row, steps), resigning);
  }

  async function load(id: string, who: string) {
    const row = await getRender(db, id, who);
    if (!row) throw new ApiError(404, "not_found", `no render ${id}`);
    return row;
  }

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (err instanceof ApiError) return reply.code(err.status).send(errorBody(err.code, err.message, err.details, err.status === 429));
    if (err instanceof AuthError) return reply.code(err.status).headers(err.headers).send(errorBody(err.code, err.message, undefined, err.retryable));
    if (err instanceof ValidationError) return reply.code(400).send(errorBody(err.code, err.message, err.details));
    if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE") return reply.code(413).send(errorBody("payload_too_large", err.message));
    if (err.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") return reply.code(415).send(errorBody("unsupported_media_type", "send application/json"));
    if (err instanceof SyntaxError && /forbidden (prototype|constructor) property/.test(err.message)) {
      return reply.code(400).send(errorBody("unknown_field", "keys named __proto__ (or constructor.prototype) are not accepted"));
    }
    if (err.code === "FST_ERR_CTP_EMPTY_JSON_BODY" || err instanceof SyntaxError || err.code === "FST_ERR_CTP_INVALID_JSON_BODY") {
      return reply.code(400).send(errorBody("malformed_json", "the body is not valid JSON"));
    }
    if (err.statusCode && err.statusCode < 500) return reply.code(err.statusCode).send(errorBody(err.code ?? "bad_request", err.message));
    deps.log.error({ event: "http_error", url: req.url, err: String(err), stack: err.stack }, "unhandled API error");
    return reply.code(500).send({ error: { code: "internal", message: "internal error", retryable: true } });
  });
  // Authenticate before the body is read: a caller without a valid token gets 401, never a
  // 400/413 about a body it had no right to send (and no body parsing at its request).
  app.addHook("onRequest", async (req) => {
    if (!underV1(req)) return;
    try {
      callers.set(req, await authenticate(req.headers.authorization));
    } catch (e) {
      // By code only: a token or an owner as a label would leak it and grow without bound.
      if (e instanceof AuthError) metrics.authFailures.inc({ code: e.code });
      throw e;
    }
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send(errorBody("not_found", `no route ${req.method} ${req.url}`)));

  app.post("/v1/renders", async (req, reply) => {
    const who = owner(req);
    const key = req.headers["idempotency-key"];
    if (key !== undefined && (typeof key !== "string" || key.length < 1 || key.length > 200)) {
      throw new ApiError(400, "invalid_idempotency_key", "Idempotency-Key must be 1..200 characters");
    }
    // The caller's owner: a renders/<owner>/… reference must be one of its own.
    const request = validateRenderRequest(req.body, who);
    if (request.owner && request.owner !== who) throw new ApiError(403, "owner_mismatch", "the body's owner is not the token's owner");
    request.owner = who;
    const { row, created } = await enqueue(db, { owner: who, request, idempotencyKey: key ?? null, maxAttempts: deps.maxAttempts ?? 5 });
    if (!created && canonical(row.request) !== canonical(request)) {
      throw new ApiError(409, "idempotency_conflict", "this Idempotency-Key was used with a different request");
    }
    if (created) deps.onEnqueued?.();
    // A replay answers with the render as it is now, steps included, exactly as GET does.
    return reply.code(created ? 202 : 200).header("location", `/v1/renders/${row.id}`).send(await present(row, created ? [] : await listSteps(db, row.id)));
  });

  app.get("/v1/renders", async (req) => listPage(db, owner(req), req.query, resigning));

  app.get<{ Params: { id: string } }>("/v1/renders/:id", async (req) => {
    const row = await load(req.params.id, owner(req));
    return present(row, await listSteps(db, row.id));
  });

  app.delete<{ Params: { id: string } }>("/v1/renders/:id", async (req) => {
    const who = owner(req);
    await load(req.params.id, who);
    const row = await cancel(db, req.params.id, who);
    if (!row) throw new ApiError(404, "not_found", `no render ${req.params.id}`);
    const steps = await listSteps(db, row.id);
    if (row.status === "cancelled") {
      // Cascade now too (the worker also does on its next heartbeat), so nothing keeps running.
      // Not awaited: the cancel is committed, and a compute plane that is slow, down or not
      // configured on this replica (no Modal) must not hang or fail the owner's DELETE.
      inBackground(cancelComputeJobs(deps, row.id, steps, drained.signal).catch((e) => deps.log.warn({ event: "cancel_cascade_failed", render_id: row.id, err: String(e) }, "compute cancel failed")));
      // A render cancelled while queued may hold what an earlier attempt published (a video
      // copied before its caption file failed, a success not recorded): no worker runs it
      // again to remove it. (A running one's worker removes what it copies after this.)
      const { publisher } = deps;
      if (publisher) {
        const failed = (e: unknown) => {
          deps.log.error({ event: "unpublish_failed", render_id: row.id, err: String(e) }, "could not remove what a cancelled render published");
          deps.onUnpublishFailed?.(row.id);
        };
        inBackground(unpublishEnded({ db, publisher }, row.id).then(({ error }) => void (error !== undefined && failed(error)), failed));
      }
    }
    return present(row, steps);
  });

  const streams = new Map<string, number>(); // open event streams per owner
  const maxStreams = deps.maxStreamsPerOwner ?? 16;

  // No automatic HEAD twin: it would hold the connection (and poll) until the render ends.
  app.get<{ Params: { id: string } }>("/v1/renders/:id/events", { exposeHeadRoute: false }, async (req, reply: FastifyReply) => {
    const { owner: who, expiresAtMs } = caller(req);
    await load(req.params.id, who);
    const open = streams.get(who) ?? 0;
    if (open >= maxStreams) {
      reply.header("retry-after", "5");
      throw new ApiError(429, "too_many_streams", `at most ${maxStreams} event streams per owner are open at once; close one or poll GET /v1/renders/:id`);
    }
    streams.set(who, open + 1);
    req.raw.once("close", () => {
      const left = (streams.get(who) ?? 1) - 1;
      if (left > 0) streams.set(who, left);
      else streams.delete(who);
    });
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive", "x-accel-buffering": "no" });
    let closed = false;
    req.raw.on("close", () => (closed = true));
    let last = "";
    let sinceBeat = 0;
    const poll = deps.eventsPollMs ?? 250;
    // A token is checked when its request starts; a stream would outlive it. A JWT's stream
    // ends when the JWT expires (its exp plus the clock tolerance: when the API would start
    // refusing it), so the client reconnects with a fresh token. Service tokens never expire.
    const expired = () => expiresAtMs !== undefined && Date.now() >= expiresAtMs;
    try {
      while (!closed) {
        if (expired()) {
          const error = { code: "token_expired", message: "the token has expired; reconnect with a fresh token", retryable: true };
          res.write(`event: error\ndata: ${JSON.stringify({ error })}\n\n`);
          break;
        }
        const row = await getRender(db, req.params.id, who);
        if (!row) break;
        const steps = await listSteps(db, row.id);
        const view = toRender(row, steps);
        const sig = JSON.stringify([view.status, view.step, view.updated_at, (view.steps ?? []).map((s) => [s.status, s.progress])]);
        if (sig !== last) {
          last = sig;
          res.write(`event: render\ndata: ${JSON.stringify(row.status === "succeeded" ? await present(row, steps) : view)}\n\n`);
          sinceBeat = 0;
        }
        if (TERMINAL.includes(row.status)) {
          res.write(`event: end\ndata: ${JSON.stringify({ status: row.status })}\n\n`);
          break;
        }
        // Until the next poll, or the token's expiry if that comes first (never a wait past it).
        const wait = expiresAtMs === undefined ? poll : Math.max(0, Math.min(poll, expiresAtMs - Date.now()));
        if ((sinceBeat += wait) >= 15_000) {
          res.write(`: keep-alive\n\n`);
          sinceBeat = 0;
        }
        await new Promise((r) => setTimeout(r, wait));
      }
    } catch (e) {
      // The reply is hijacked: nothing else would end it, and the client would wait forever.
      deps.log.error({ event: "events_failed", render_id: req.params.id, err: String(e) }, "event stream failed");
      res.write(`event: error\ndata: ${JSON.stringify({ error: { code: "internal", message: "the event stream failed; reconnect", retryable: true } })}\n\n`);
    }
    res.end();
  });

  // 503 when the database does not answer (an error, or nothing within healthTimeoutMs): the
  // platform's healthcheck (Railway's deploy check, Docker's HEALTHCHECK) must not pass a
  // worker that can neither take nor run a render. Breaker states are shown, not judged: an
  // open breaker is the router doing its job.
  app.get("/health", async (_req, reply) => {
    let dbOk = true;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        db.query("select 1"),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("timed out")), deps.healthTimeoutMs ?? 2000))),
      ]);
    } catch {
      dbOk = false;
    } finally {
      clearTimeout(timer);
    }
    const backends = Object.fromEntries(
      // No URLs: /health needs no token, and where the compute plane lives is nobody else's business.
      Object.entries(deps.router.backends).filter(([, c]) => c).map(([name, c]) => [name, { breaker: c!.breakerState }]),
    );
    return reply.code(dbOk ? 200 : 503).send({ status: dbOk ? "ok" : "unavailable", db: db.kind, backends });
  });

  app.get("/metrics", async (req, reply) => {
    if (deps.metricsToken) checkMetricsToken(deps.metricsToken, req.headers.authorization);
    reply.header("content-type", metrics.registry.contentType);
    return metrics.text();
  });

  return app;
}
