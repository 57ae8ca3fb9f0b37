/**
 * A scripted compute plane behind `ComputeClient`'s `fetch` seam, for worker lifecycle
 * cases a real server cannot be made to hit on cue (a job that stays running, a claim
 * caught mid-flight). It speaks the same job JSON as the real one and records every call
 * (with the status it answered). Like the real one, the key lookup
 * (`GET /v1/jobs?idempotency_key=&kind=`) answers `404 submission_in_progress` while a POST
 * with the key is being handled: `hold` keeps a POST there until the promise it returns settles.
 */
import { ComputeClient } from "../../src/client/modal-client.ts";
import type { PolicyOptions } from "../../src/client/policies.ts";
import { log } from "../../src/log.ts";
import { Metrics } from "../../src/metrics.ts";

export type Script = (kind: string, input: unknown) => { status: string; error?: unknown; result?: unknown };
export interface ScriptedCall { method: string; path: string; query: string; status?: number; code?: string | undefined }
export interface ScriptedJob { id: string; kind: string; status: string; error?: unknown; result?: unknown; key: string }

export class ScriptedCompute {
  readonly jobs = new Map<string, ScriptedJob>();
  readonly calls: ScriptedCall[] = [];
  /** When set, a POST that would create a job waits for the returned promise first (the server is still on it). */
  hold: ((key: string) => Promise<void>) | null = null;
  private readonly byKey = new Map<string, string>();
  private readonly handling = new Map<string, number>();
  private n = 0;

  constructor(readonly name: "inhouse" | "modal", private readonly onSubmit: Script) {}

  readonly fetch = async (url: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const u = new URL(String(url));
    const method = init.method ?? "GET";
    const call: ScriptedCall = { method, path: u.pathname, query: u.search };
    this.calls.push(call);
    const json = (status: number, body: unknown) => {
      call.status = status;
      call.code = (body as { error?: { code?: string } })?.error?.code;
      return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
    };
    const notFound = (code: string, message: string, retryable = false) => json(404, { error: { code, message, retryable } });
    if (method === "POST" && u.pathname === "/v1/jobs") {
      const body = JSON.parse(String(init.body)) as { kind: string; input: unknown; idempotency_key: string };
      const key = body.idempotency_key;
      this.handling.set(key, (this.handling.get(key) ?? 0) + 1);
      try {
        if (this.hold && !this.byKey.has(key)) await this.hold(key);
        const existing = this.byKey.get(key);
        if (existing) return json(202, this.view(this.jobs.get(existing)!));
        const job: ScriptedJob = { id: `${this.name}-${++this.n}`, kind: body.kind, key, ...this.onSubmit(body.kind, body.input) };
        this.jobs.set(job.id, job);
        this.byKey.set(job.key, job.id);
        return json(202, this.view(job));
      } finally {
        this.handling.set(key, this.handling.get(key)! - 1);
      }
    }
    if (method === "GET" && u.pathname === "/v1/jobs") {
      const key = u.searchParams.get("idempotency_key") ?? "";
      const kind = u.searchParams.get("kind");
      const id = this.byKey.get(key);
      const found = id ? this.jobs.get(id) : undefined;
      if (found && (!kind || found.kind === kind)) return json(200, this.view(found));
      if (!found && (this.handling.get(key) ?? 0) > 0) return notFound("submission_in_progress", `key ${key}: a submission is in progress`, true);
      return notFound("not_found", `no job with idempotency key ${key}`);
    }
    const m = /^\/v1\/jobs\/(.+)$/.exec(u.pathname);
    const job = m ? this.jobs.get(decodeURIComponent(m[1]!)) : undefined;
    if (!job) return notFound("not_found", u.pathname);
    if (method === "DELETE" && !["succeeded", "failed", "cancelled"].includes(job.status)) job.status = "cancelled";
    return json(200, this.view(job));
  };

  client(): ComputeClient {
    return new ComputeClient(
      { name: this.name, baseUrl: `http://${this.name}.scripted`, policy: { attemptTimeoutMs: 2000, initialDelayMs: 10, maxDelayMs: 50 } },
      { metrics: new Metrics(), log, fetch: this.fetch as typeof fetch },
    );
  }

  submitted(kind: string): ScriptedJob[] {
    return [...this.jobs.values()].filter((j) => j.kind === kind);
  }

  private view(j: ScriptedJob) {
    const now = new Date().toISOString();
    return { id: j.id, kind: j.kind, status: j.status, error: j.error ?? null, result: j.result ?? null, backend: this.name,
      progress: { done: 0, total: 1, unit: "x" }, attempts: 1, updated_at: now, created_at: now };
  }
}

/**
 * `server` behind a lossy link: every POST reaches it (it makes the job) but no answer comes
 * back, so each attempt ends on the client's timeout. `posts()` counts the POSTs sent.
 */
export function lossyClient(server: ScriptedCompute, policy: Partial<PolicyOptions>): { client: ComputeClient; posts: () => number } {
  let posts = 0;
  const f = (async (url: string | URL | Request, init: RequestInit = {}) => {
    if (init.method !== "POST") return server.fetch(url, init);
    posts++;
    const { signal: _ignored, ...rest } = init;
    void server.fetch(url, rest);
    return new Promise<Response>((_, reject) => {
      const abort = () => reject(new DOMException("aborted", "AbortError"));
      if (init.signal?.aborted) abort();
      init.signal?.addEventListener("abort", abort, { once: true });
    });
  }) as typeof fetch;
  const client = new ComputeClient({ name: server.name, baseUrl: `http://${server.name}.scripted`, policy }, { metrics: new Metrics(), log, fetch: f });
  return { client, posts: () => posts };
}
