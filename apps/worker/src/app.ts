/**
 * Assembles the worker from its config: database (PGlite or Postgres, migrated), compute
 * clients + router, publisher, the render loop, the HTTP API and the keep-warm cron.
 * `main.ts` only calls `startApp(loadConfig())`; tests call it with their own config.
 */
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { ComputeClient } from "./client/modal-client.ts";
import type { Config } from "./config.ts";
import { KeepWarm } from "./cron/keepWarm.ts";
import type { Db } from "./db/db.ts";
import { openDb } from "./db/open.ts";
import { parseTokens } from "./http/auth.ts";
import { createJwtVerifier } from "./http/jwt.ts";
import { buildApi } from "./http/server.ts";
import { log as rootLog, type Logger } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { Router } from "./router/index.ts";
import { LocalPublisher, loadSigningSecret } from "./storage/LocalPublisher.ts";
import type { Publisher } from "./storage/publisher.ts";
import { SupabasePublisher } from "./storage/SupabasePublisher.ts";
import { newWorkerId, Worker } from "./worker.ts";

export interface App {
  config: Config;
  db: Db;
  router: Router;
  metrics: Metrics;
  worker: Worker | null;
  api: FastifyInstance | null;
  url: string | null;
  keepWarm: KeepWarm | null;
  stop(): Promise<void>;
}

export function makePublisher(c: Config): Publisher {
  if (c.store.kind === "supabase") {
    return new SupabasePublisher({
      url: c.store.supabaseUrl!, serviceRoleKey: c.store.supabaseKey!,
      artifactsBucket: c.store.artifactsBucket, rendersBucket: c.store.rendersBucket, expiresInS: c.store.signedUrlTtlS,
    });
  }
  let secret: string | undefined = c.store.signingSecret;
  return new LocalPublisher(join(c.store.dataDir, "store"), c.store.publicUrl, () => (secret ??= loadSigningSecret(c.store.dataDir)), c.store.signedUrlTtlS);
}

export async function startApp(config: Config, opts: { log?: Logger; poll?: { minIntervalMs?: number; maxIntervalMs?: number } } = {}): Promise<App> {
  const log = opts.log ?? rootLog;
  const metrics = new Metrics();
  const inhouse = new ComputeClient({ name: "inhouse", baseUrl: config.compute.url, token: config.compute.token, policy: config.policy }, { metrics, log });
  const modal = config.modal
    ? new ComputeClient({ name: "modal", baseUrl: config.modal.url, token: config.modal.token, policy: config.policy }, { metrics, log })
    : undefined;
  const router = new Router({ inhouse, modal }, { metrics, log });
  const workerId = newWorkerId();
  // One publisher for both: the worker publishes, the API re-signs succeeded renders' URLs.
  const publisher = makePublisher(config);

  // Built before the worker claims anything (loadConfig has parsed and checked every WARM_*
  // setting); started last, once everything else is up.
  let keepWarm: KeepWarm | null = null;
  if (config.warm.enabled && config.role !== "api") {
    keepWarm = new KeepWarm(
      [inhouse, ...(modal ? [modal] : [])],
      { schedule: config.warm.schedule, hours: config.warm.hours, kinds: config.warm.kinds, ttlS: config.warm.ttlS, minContainers: config.warm.minContainers },
      log,
    );
  }
  const db = await openDb({ url: config.databaseUrl, pgliteDir: config.pgliteDir });

  let worker: Worker | null = null;
  if (config.role !== "api") {
    worker = new Worker(
      { db, router, publisher, metrics, log, workerId, ...(opts.poll ? { poll: opts.poll } : {}), ...(config.alignModel ? { alignModel: config.alignModel } : {}) },
      config.worker,
    );
    worker.start();
  }

  let api: FastifyInstance | null = null;
  let url: string | null = null;
  if (config.role !== "worker") {
    api = buildApi({
      db, router, metrics, log, tokens: parseTokens(config.tokens),
      jwt: config.jwt ? createJwtVerifier(config.jwt, log) : undefined, metricsToken: config.metricsToken,
      maxAttempts: config.worker.maxAttempts, publisher, onEnqueued: () => worker?.poke(),
      // A DELETE's failed removal stays pending in the database (the DELETE's cancel marked it), where any
      // worker's sweep finds it; this process's worker, if it has one, also marks it again at its next pass.
      onUnpublishFailed: (id) => worker?.unpublishLater(id),
      drainTimeoutMs: config.worker.drainTimeoutMs,
    });
    url = await api.listen({ host: config.host, port: config.port });
    log.info({ event: "api_listening", url, db: db.kind, compute: config.compute.url, modal: config.modal?.url ?? null }, "worker API listening");
  }
  keepWarm?.start();

  return {
    config, db, router, metrics, worker, api, url, keepWarm,
    async stop() {
      // Every part is closed even if one before it fails to (a worker left claiming, or the
      // database left open, would hold leases and keep the process alive); in this order,
      // then the failures are reported together.
      const failures: unknown[] = [];
      const parts: (() => unknown)[] = [() => keepWarm?.stop(), () => api?.close(), () => worker?.stop(), () => router.close(), () => db.close()];
      for (const close of parts) {
        try {
          await close();
        } catch (e) {
          failures.push(e);
        }
      }
      if (failures.length === 1) throw failures[0];
      if (failures.length) throw new AggregateError(failures, `${failures.length} parts failed to stop: ${failures.map((e) => (e instanceof Error ? e.message : String(e))).join("; ")}`);
    },
  };
}
