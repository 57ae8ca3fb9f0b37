/**
 * Worker settings from the environment (12-factor), with safe local defaults so the
 * worker runs with no credentials next to a local `canvascast serve`.
 */
import { join, resolve } from "node:path";
import cron from "node-cron";
import type { PolicyOptions } from "./client/policies.ts";
import type { WarmRequest } from "./contract.ts";
import { type BusinessHours, checkTimeZone, parseDays, parseWindow } from "./cron/businessHours.ts";
import { parseTokens } from "./http/auth.ts";
import type { JwtSettings } from "./http/jwt.ts";
import { LOG_LEVELS } from "./log.ts";

export interface Config {
  role: "all" | "api" | "worker";
  host: string;
  port: number;
  databaseUrl: string | undefined;
  pgliteDir: string;
  tokens: string;
  /** Supabase users' JWTs; null: static tokens only. */
  jwt: JwtSettings | null;
  /** Bearer token /metrics requires; unset: /metrics is open. */
  metricsToken: string | undefined;
  compute: { url: string; token: string | undefined };
  modal: { url: string; token: string | undefined } | null;
  policy: Partial<PolicyOptions>;
  /** Whisper model the align step asks for (the compute plane's default when unset). */
  alignModel: string | undefined;
  worker: {
    concurrency: number; leaseSeconds: number; heartbeatMs: number; idlePollMs: number; backoffBaseSeconds: number; maxAttempts: number;
    drainTimeoutMs: number; orphanSweepMs: number; orphanCancelMaxAgeMs: number; unpublishRetryMs: number;
  };
  store: {
    kind: "local" | "supabase";
    dataDir: string;
    publicUrl: string;
    signingSecret: string | undefined;
    signedUrlTtlS: number;
    supabaseUrl: string | undefined;
    supabaseKey: string | undefined;
    artifactsBucket: string;
    rendersBucket: string;
  };
  warm: { enabled: boolean; schedule: string; hours: BusinessHours; kinds: WarmRequest["kinds"]; ttlS: number; minContainers: number | undefined };
}

type Env = Record<string, string | undefined>;

/** A text setting; empty means unset (a `FOO=${FOO}` in a compose file or platform), so the default. */
const str = (env: Env, name: string, def: string): string => env[name] || def;

interface Range {
  min?: number;
  max?: number;
  integer?: boolean;
}

/** A numeric setting; one outside its range is refused at start, naming it (not a 500 per request later). */
function num(env: Env, name: string, def: number, range: Range = {}): number {
  const v = env[name];
  if (v === undefined || v === "") return def;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`${name}=${JSON.stringify(v)} is not a number`);
  const { min, max, integer } = range;
  if ((integer && !Number.isInteger(n)) || (min !== undefined && n < min) || (max !== undefined && n > max)) {
    const kind = integer ? "a whole number" : "a number";
    throw new Error(`${name}=${JSON.stringify(v)} must be ${kind}${min !== undefined ? ` >= ${min}` : ""}${max !== undefined ? ` and <= ${max}` : ""}`);
  }
  return n;
}

const COUNT = { min: 1, integer: true };
const PORT_RANGE = { min: 0, max: 65535, integer: true };
/** Node clamps a timer longer than 2^31-1 ms to 1 ms (with a warning): a delay beyond it would fire at once. */
const TIMER_MAX_MS = 2 ** 31 - 1;
const DELAY_MS = { min: 1, max: TIMER_MAX_MS, integer: true };

/** A boolean setting: 1/0, true/false, yes/no, on/off (any case); anything else is refused, not read as "on". */
function bool(env: Env, name: string, def: boolean): boolean {
  const v = env[name];
  if (v === undefined || v === "") return def;
  const s = v.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(s)) return true;
  if (["0", "false", "no", "off"].includes(s)) return false;
  throw new Error(`${name}=${JSON.stringify(v)} must be one of 1/0, true/false, yes/no, on/off`);
}

type WarmKind = WarmRequest["kinds"][number];
/**
 * The compute kinds WARM_KINDS may name. A Record over the generated contract's kind union, so
 * `make types` adding or dropping a kind fails the typecheck here until this list follows.
 */
const WARM_KIND_SET: Record<WarmKind, true> = { generate_images: true, transcribe_audio: true, render_video: true, diagnostic: true };

/**
 * The keep-warm settings, all checked here: they used to be parsed only when the cron started,
 * after the worker had claimed renders, so a typo crashed the process mid-render on every
 * restart and the restarts burned the renders' attempts.
 */
function warmSettings(env: Env): Config["warm"] {
  // An empty WARM_KINDS / WARM_DAYS would read as "none": refused rather than guessed either way.
  const kinds = (env.WARM_KINDS ?? "generate_images,transcribe_audio,render_video").split(",").map((s) => s.trim()).filter(Boolean);
  if (kinds.length === 0) throw new Error("WARM_KINDS is empty: name at least one kind, or set WARM_ENABLED=0 to warm nothing");
  const unknown = kinds.filter((k) => !Object.hasOwn(WARM_KIND_SET, k));
  if (unknown.length) throw new Error(`WARM_KINDS has unknown kind(s) ${unknown.join(", ")}: use ${Object.keys(WARM_KIND_SET).join(", ")}`);

  const schedule = env.WARM_CRON || "*/5 * * * *";
  if (!cron.validate(schedule)) throw new Error(`WARM_CRON=${JSON.stringify(schedule)} is not a cron expression`);

  const timeZone = env.WARM_TZ || "UTC";
  try {
    checkTimeZone(timeZone);
  } catch {
    throw new Error(`WARM_TZ=${JSON.stringify(timeZone)} is not an IANA time zone (e.g. Europe/Berlin, America/New_York)`);
  }

  const hours = env.WARM_HOURS || "08:00-20:00";
  let window: { startMin: number; endMin: number };
  try {
    window = parseWindow(hours);
  } catch {
    throw new Error(`WARM_HOURS=${JSON.stringify(hours)} must be HH:MM-HH:MM with start != end (windows may wrap midnight)`);
  }

  const days = env.WARM_DAYS ?? "1-5";
  let daySet: Set<number>;
  try {
    daySet = parseDays(days);
  } catch (e) {
    throw new Error(`WARM_DAYS=${JSON.stringify(days)}: ${(e as Error).message}`);
  }
  if (daySet.size === 0) throw new Error("WARM_DAYS is empty: name days 0-6 (Sunday = 0), ranges or *, or set WARM_ENABLED=0");

  return {
    enabled: bool(env, "WARM_ENABLED", true),
    schedule,
    hours: { days: daySet, ...window, timeZone },
    kinds: kinds as WarmRequest["kinds"],
    // The compute plane's WarmRequest bounds: outside them every tick would be refused with a 422.
    ttlS: num(env, "WARM_TTL_S", 900, { min: 1, max: 86_400, integer: true }),
    minContainers: env.WARM_MIN_CONTAINERS ? num(env, "WARM_MIN_CONTAINERS", 1, { min: 0, max: 100, integer: true }) : undefined,
  };
}

/** The breaker's threshold: cockatiel's SamplingBreaker refuses 1 (a RangeError building the client, after the config passed). */
function failureRate(env: Env): number {
  const rate = num(env, "BREAKER_FAILURE_RATE", 0.5, { min: 0.01, max: 1 });
  if (rate >= 1) throw new Error(`BREAKER_FAILURE_RATE=${JSON.stringify(env.BREAKER_FAILURE_RATE)} must be below 1 (the breaker opens when more than this share of calls failed)`);
  return rate;
}

/** Retry and breaker settings; nonsense (negative delays, an empty window) is refused, not fed to cockatiel. */
function policySettings(env: Env): Partial<PolicyOptions> {
  const initialDelayMs = num(env, "HTTP_RETRY_INITIAL_MS", 200, DELAY_MS);
  const maxDelayMs = num(env, "HTTP_RETRY_MAX_MS", 10_000, DELAY_MS);
  if (initialDelayMs > maxDelayMs) throw new Error(`HTTP_RETRY_INITIAL_MS=${initialDelayMs} must not exceed HTTP_RETRY_MAX_MS=${maxDelayMs}`);
  return {
    attemptTimeoutMs: num(env, "HTTP_ATTEMPT_TIMEOUT_MS", 10_000, DELAY_MS),
    maxAttempts: num(env, "HTTP_MAX_ATTEMPTS", 4, COUNT),
    initialDelayMs,
    maxDelayMs,
    failureRate: failureRate(env),
    windowMs: num(env, "BREAKER_WINDOW_MS", 30_000, { min: 1000, max: TIMER_MAX_MS, integer: true }),
    minimumRps: num(env, "BREAKER_MIN_RPS", 0.2, { min: 0 }),
    halfOpenAfterMs: num(env, "BREAKER_HALF_OPEN_MS", 10_000, { min: 0, max: TIMER_MAX_MS, integer: true }),
  };
}

/** A URL setting that must be http(s), refused at start otherwise. */
function httpUrl(env: Env, name: string): string | undefined {
  const v = env[name];
  if (!v) return undefined;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new Error(`${name}=${JSON.stringify(v)} is not a URL`);
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") throw new Error(`${name}=${JSON.stringify(v)} must be an http(s) URL`);
  return v;
}

/**
 * Supabase Auth JWTs are accepted when SUPABASE_JWKS_URL and/or SUPABASE_JWT_SECRET is set.
 * The issuer is required (derived from SUPABASE_URL by default): without it any Supabase
 * project's tokens signed with the same secret would pass.
 */
function jwtSettings(env: Env): JwtSettings | null {
  const jwksUrl = httpUrl(env, "SUPABASE_JWKS_URL");
  const secret = env.SUPABASE_JWT_SECRET || undefined;
  if (!jwksUrl && !secret) {
    for (const name of ["SUPABASE_JWT_ISSUER", "SUPABASE_JWT_AUDIENCE"]) {
      if (env[name]) throw new Error(`${name} is set but no JWT is accepted: set SUPABASE_JWKS_URL and/or SUPABASE_JWT_SECRET`);
    }
    return null;
  }
  // Supabase asks for at least 32 characters; a short HS256 secret can be brute-forced offline from one token.
  if (secret && secret.length < 32) throw new Error("SUPABASE_JWT_SECRET must be at least 32 characters");
  const issuer = env.SUPABASE_JWT_ISSUER || (env.SUPABASE_URL ? `${env.SUPABASE_URL.replace(/\/+$/, "")}/auth/v1` : undefined);
  if (!issuer) throw new Error("SUPABASE_JWKS_URL / SUPABASE_JWT_SECRET need the tokens' issuer: set SUPABASE_URL (issuer $SUPABASE_URL/auth/v1) or SUPABASE_JWT_ISSUER");
  return {
    jwksUrl,
    secret,
    issuer,
    audience: env.SUPABASE_JWT_AUDIENCE || "authenticated",
    clockToleranceS: num(env, "SUPABASE_JWT_CLOCK_TOLERANCE_S", 30, { min: 0, max: 300, integer: true }),
    jwksTimeoutMs: num(env, "SUPABASE_JWKS_TIMEOUT_MS", 5000, { min: 1, max: 60_000, integer: true }),
  };
}

/**
 * WORKER_TOKENS, checked here though the API parses it again: a bad entry used to surface
 * only when the API was built, after the database was opened and the loop had claimed renders.
 */
function workerTokens(env: Env): string {
  const spec = env.WORKER_TOKENS ?? "";
  parseTokens(spec); // its errors name WORKER_TOKENS (and an owner, never a token)
  return spec;
}

export function loadConfig(env: Env = process.env): Config {
  // log.ts falls back to the default on a level pino does not know; refused here, by name.
  const logLevel = env.LOG_LEVEL?.trim().toLowerCase();
  if (logLevel && !LOG_LEVELS.includes(logLevel)) throw new Error(`LOG_LEVEL=${JSON.stringify(env.LOG_LEVEL)} must be one of ${LOG_LEVELS.join(", ")}`);
  const dataDir = resolve(str(env, "CANVASCAST_DATA_DIR", ".canvascast"));
  // Empty means unset; a typo ("localhost:8000", no scheme) would make every call a retried transport failure.
  const computeUrl = httpUrl(env, "COMPUTE_URL") ?? `http://127.0.0.1:${str(env, "COMPUTE_PORT", "8000")}`;
  const modalUrl = httpUrl(env, "MODAL_COMPUTE_URL");
  const role = str(env, "WORKER_ROLE", "all") as Config["role"];
  if (!["all", "api", "worker"].includes(role)) throw new Error(`WORKER_ROLE must be all, api or worker`);
  const store = str(env, "ARTIFACT_STORE", "local") as "local" | "supabase";
  if (store !== "local" && store !== "supabase") throw new Error("ARTIFACT_STORE must be local or supabase");
  if (store === "supabase" && (!env.SUPABASE_URL || !env.SUPABASE_SERVICE_ROLE_KEY)) {
    throw new Error("ARTIFACT_STORE=supabase needs SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY");
  }
  const leaseSeconds = num(env, "WORKER_LEASE_S", 60);
  const heartbeatMs = num(env, "WORKER_HEARTBEAT_MS", 10_000);
  // A lease renewed less often than it lasts lapses under a live worker: the render is
  // reclaimed (by this worker too) and every lapse burns an attempt. A third of the lease
  // leaves room for two renewals to be late or lost before that happens.
  if (!(leaseSeconds > 0) || !(heartbeatMs > 0)) throw new Error("WORKER_LEASE_S and WORKER_HEARTBEAT_MS must be positive");
  if (heartbeatMs * 3 > leaseSeconds * 1000) {
    throw new Error(
      `WORKER_HEARTBEAT_MS=${heartbeatMs} must be at most a third of the lease (WORKER_LEASE_S=${leaseSeconds} -> ${Math.floor((leaseSeconds * 1000) / 3)} ms), or leases lapse while the render runs`,
    );
  }
  // The image sets NODE_ENV=production. There, a missing DATABASE_URL is a forgotten setting, not
  // a choice: PGlite on a container's disk is one queue per replica, lost on every redeploy.
  const dbUrl = env.DATABASE_URL || "";
  if (dbUrl && !/^postgres(ql)?:\/\//.test(dbUrl) && dbUrl !== "memory://") {
    // Anything else used to mean PGlite, so a typo in the scheme quietly gave a local queue.
    throw new Error("DATABASE_URL must be a postgres:// or postgresql:// URL (or memory:// for an in-memory PGlite, tests only)");
  }
  if (env.NODE_ENV === "production" && dbUrl === "memory://") {
    throw new Error("DATABASE_URL=memory:// in production: the queue would be lost on every restart");
  }
  if (env.NODE_ENV === "production" && !dbUrl && !env.WORKER_PGLITE_DIR) {
    throw new Error(
      "DATABASE_URL is unset in production: the queue would live in PGlite on this container's disk " +
        "(one queue per replica, lost on redeploy). Set DATABASE_URL (Supabase Postgres), or WORKER_PGLITE_DIR to choose PGlite on purpose",
    );
  }
  return {
    role,
    host: str(env, "WORKER_HOST", "127.0.0.1"),
    port: num(env, "WORKER_PORT", num(env, "PORT", 8080, PORT_RANGE), PORT_RANGE),
    databaseUrl: env.DATABASE_URL || undefined,
    pgliteDir: str(env, "WORKER_PGLITE_DIR", join(dataDir, "worker-db")),
    tokens: workerTokens(env),
    jwt: jwtSettings(env),
    metricsToken: env.METRICS_TOKEN || undefined,
    compute: { url: computeUrl, token: env.COMPUTE_TOKEN || undefined },
    modal: modalUrl ? { url: modalUrl, token: env.MODAL_COMPUTE_TOKEN || env.COMPUTE_TOKEN || undefined } : null,
    alignModel: env.ALIGN_MODEL || undefined,
    policy: policySettings(env),
    worker: {
      concurrency: num(env, "WORKER_CONCURRENCY", 4, COUNT),
      leaseSeconds,
      heartbeatMs,
      idlePollMs: num(env, "WORKER_POLL_MS", 1000, { min: 10, max: 3_600_000, integer: true }),
      // Retries wait base * e^min(attempts,10) s: 0 retries at once, 60 already waits ~15 days at the cap.
      backoffBaseSeconds: num(env, "WORKER_BACKOFF_BASE_S", 2, { min: 0, max: 60 }),
      maxAttempts: num(env, "WORKER_MAX_ATTEMPTS", 5, { ...COUNT, max: 100 }), // the table's check: 1..100
      // How long stop() (and the API's shutdown) waits for ended renders' cancels and removals;
      // keep it under the platform's drain (Railway: 30 s by default). What is cut off stays pending.
      drainTimeoutMs: num(env, "WORKER_DRAIN_MS", 10_000, { min: 0, max: 600_000, integer: true }),
      // The sweeps every worker runs: compute jobs of ended renders left running, and removals of
      // what ended renders published. A compute job started this long ago is given up on.
      orphanSweepMs: num(env, "WORKER_ORPHAN_SWEEP_MS", 30_000, DELAY_MS),
      orphanCancelMaxAgeMs: num(env, "WORKER_ORPHAN_GIVE_UP_H", 6, { min: 0.001, max: 24 * 365 }) * 3600_000,
      unpublishRetryMs: num(env, "WORKER_UNPUBLISH_RETRY_MS", 30_000, DELAY_MS),
    },
    store: {
      kind: store,
      dataDir,
      publicUrl: httpUrl(env, "COMPUTE_PUBLIC_URL") ?? computeUrl,
      signingSecret: env.ARTIFACT_SIGNING_SECRET || undefined,
      signedUrlTtlS: num(env, "SIGNED_URL_TTL_S", 7 * 24 * 3600, { ...COUNT, max: 7 * 24 * 3600 }),
      supabaseUrl: env.SUPABASE_URL,
      supabaseKey: env.SUPABASE_SERVICE_ROLE_KEY,
      artifactsBucket: str(env, "SUPABASE_ARTIFACT_BUCKET", "artifacts"),
      rendersBucket: str(env, "SUPABASE_RENDERS_BUCKET", "renders"),
    },
    warm: warmSettings(env),
  };
}
