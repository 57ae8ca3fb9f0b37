import type { Db } from "../db/db.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { RenderRow, StepName, StepRow } from "../queue/index.ts";
import type { Router } from "../router/index.ts";
import type { Publisher } from "../storage/publisher.ts";
import type { WaitOptions } from "./waitForJob.ts";

export interface PipelineDeps {
  db: Db;
  router: Router;
  publisher: Publisher;
  metrics: Metrics;
  log: Logger;
  workerId: string;
  poll?: Pick<WaitOptions, "minIntervalMs" | "maxIntervalMs" | "maxUnreachableMs">;
  /** Whisper model for the align step (`ALIGN_MODEL`); unset = the compute plane's default. */
  alignModel?: string;
}

/** What one render attempt's steps share: the row, the persisted steps, the abort signal. */
export interface RenderContext {
  deps: PipelineDeps;
  render: RenderRow;
  steps: Map<StepName, StepRow>;
  signal: AbortSignal;
  emit?: () => void;
}
