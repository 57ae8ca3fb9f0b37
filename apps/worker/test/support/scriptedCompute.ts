/**
 * A scripted compute plane behind `ComputeClient`'s `fetch` seam, for worker lifecycle
 * cases a real server cannot be made to hit on cue (a job that stays running, a claim
 * caught mid-flight). It speaks the same job JSON as the real one and records every call.
 */
import { ComputeClient } from "../../src/client/modal-client.ts";
import { log } from "../../src/log.ts";
import { Metrics } from "../../src/metrics.ts";

export type Script = (kind: string, input: unknown) => { status: string; error?: unknown; result?: unknown };
export interface ScriptedJob { id: string; kind: string; status: string; error?: unknown; result?: unknown; key: string }

export class ScriptedCompute {
  readonly jobs = new Map<string, ScriptedJob>();
  readonly calls: Array<{ method: string; path: string }> = [];
  private readonly byKey = new Map<string, string>();
  private n = 0;

  constructor(readonly name: "inhouse" | "modal", private readonly onSubmit: Script) {}

  readonly fetch = async (url: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const u = new URL(String(url));
    const method = init.method ?? "GET";
    this.calls.push({ method, path: u.pathname });
    const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
    if (method === "POST" && u.pathname === "/v1/jobs") {
      const body = JSON.parse(String(init.body)) as { kind: string; input: unknown; idempotency_key: string };
      const existing = this.byKey.get(body.idempotency_key);
      if (existing) return json(202, this.view(this.jobs.get(existing)!));
      const job: ScriptedJob = { id: `${this.name}-${++this.n}`, kind: body.kind, key: body.idempotency_key, ...this.onSubmit(body.kind, body.input) };
      this.jobs.set(job.id, job);
      this.byKey.set(job.key, job.id);
      return json(202, this.view(job));
    }
    const m = /^\/v1\/jobs\/(.+)$/.exec(u.pathname);
    const job = m ? this.jobs.get(decodeURIComponent(m[1]!)) : undefined;
    if (!job) return json(404, { error: { code: "not_found", message: u.pathname, retryable: false } });
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
