import type { JobError, RenderRequest } from "../contract.ts";

export const RENDER_STATUSES = ["queued", "running", "succeeded", "failed", "dead", "cancelled"] as const;
export type RenderStatus = (typeof RENDER_STATUSES)[number];
export type StepName = "images" | "align" | "render" | "publish";
export type StepStatus = "pending" | "submitting" | "running" | "succeeded" | "failed" | "cancelled";
export type BackendName = "inhouse" | "modal";

/** A render_jobs row as the worker reads it. */
export interface RenderRow {
  id: string;
  owner: string;
  idempotency_key: string | null;
  request: RenderRequest;
  status: RenderStatus;
  step: StepName | null;
  progress: Record<string, unknown>;
  attempts: number;
  max_attempts: number;
  run_at: Date;
  locked_by: string | null;
  locked_until: Date | null;
  heartbeat_at: Date | null;
  last_error: JobError | null;
  result: Record<string, unknown> | null;
  cancel_requested_at: Date | null;
  created_at: Date;
  updated_at: Date;
  finished_at: Date | null;
}

export interface StepRow {
  render_id: string;
  step: StepName;
  status: StepStatus;
  step_attempt: number;
  backend: BackendName | null;
  compute_job_id: string | null;
  idempotency_key: string | null;
  route_reason: string | null;
  progress: Record<string, unknown>;
  output: Record<string, unknown> | null;
  error: JobError | null;
  started_at: Date | null;
  finished_at: Date | null;
  updated_at: Date;
}

export const TERMINAL: readonly RenderStatus[] = ["succeeded", "failed", "dead", "cancelled"];
