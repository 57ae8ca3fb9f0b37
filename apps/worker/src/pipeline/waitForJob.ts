/**
 * Poll a compute job until it is terminal (the long-job protocol: submit, then poll).
 * Each GET has its own per-attempt timeout and retries (the client's policies); the job
 * itself has no deadline here, the backend's watchdog owns that. Transient polling
 * failures (backend restarting, breaker open) are waited out for `maxUnreachableMs`.
 */
import type { Job } from "../contract.ts";
import { HttpError, isBrokenCircuit, isTransient, errorCode, MalformedAnswerError } from "../client/errors.ts";
import type { ComputeClient } from "../client/modal-client.ts";
import { abortableSleep } from "../router/Router.ts";

export const TERMINAL_JOB = new Set(["succeeded", "failed", "cancelled"]);

export const COMPUTE_UNREACHABLE = "compute_unreachable";

export class JobLostError extends Error {
  override readonly name = "JobLostError";
  readonly code: string = "compute_job_lost";
  readonly retryable = true;
}

/**
 * The backend could not be reached for `maxUnreachableMs` while polling: the job is not known
 * to be gone (it may be running, or done, all along), so the step's next attempt looks at it
 * again before paying for a new one.
 */
export class JobUnreachableError extends JobLostError {
  override readonly code = COMPUTE_UNREACHABLE;
}

export interface WaitOptions {
  signal?: AbortSignal | undefined;
  onUpdate?: (job: Job) => Promise<void> | void;
  minIntervalMs?: number;
  maxIntervalMs?: number;
  maxUnreachableMs?: number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export async function waitForJob(client: ComputeClient, jobId: string, opts: WaitOptions = {}): Promise<Job> {
  const sleep = opts.sleep ?? abortableSleep;
  const minI = opts.minIntervalMs ?? 100;
  const maxI = opts.maxIntervalMs ?? 1000;
  const maxUnreachable = opts.maxUnreachableMs ?? 10 * 60_000;
  let interval = minI;
  let unreachableSince: number | null = null;
  let lastUpdated = "";
  for (;;) {
    opts.signal?.throwIfAborted();
    let job: Job;
    try {
      job = await client.get(jobId, opts.signal); // a stop ends the GET in flight, with the signal's reason
      unreachableSince = null;
    } catch (e) {
      if (e instanceof HttpError && e.status === 404) {
        throw new JobLostError(`${client.name} no longer knows job ${jobId}`);
      }
      // a 200 that was not JSON (a proxy's page) counts as a poll that did not get through
      if (!(isTransient(e) || isBrokenCircuit(e) || e instanceof MalformedAnswerError)) throw e;
      unreachableSince ??= Date.now();
      if (Date.now() - unreachableSince > maxUnreachable) {
        throw new JobUnreachableError(`${client.name} unreachable for ${maxUnreachable} ms while polling ${jobId} (${errorCode(e)})`);
      }
      await sleep(Math.min(maxI * 2, 5000), opts.signal);
      continue;
    }
    // An answer older than one already seen (a lagging replica or store) is stale: reported,
    // it would take the job's progress back. It still ends the wait if it is terminal.
    if (job.updated_at !== lastUpdated && !olderThan(job.updated_at, lastUpdated)) {
      lastUpdated = job.updated_at;
      interval = minI;
      await opts.onUpdate?.(job);
    }
    if (TERMINAL_JOB.has(job.status)) return job;
    await sleep(interval, opts.signal);
    interval = Math.min(maxI, Math.round(interval * 1.5));
  }
}

/** `a` is a timestamp before `b` (both readable; an unreadable one is never "older"). */
function olderThan(a: string, b: string): boolean {
  const ta = Date.parse(a);
  const tb = Date.parse(b);
  return Number.isFinite(ta) && Number.isFinite(tb) && ta < tb;
}
