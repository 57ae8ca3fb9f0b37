import type { JobError } from "../contract.ts";
import { CapacityError, errorCode, HttpError, isBrokenCircuit, isTransient, MalformedAnswerError } from "../client/errors.ts";

/** A step that failed: carries the JobError to keep on the row and whether a retry may help. */
export class StepError extends Error {
  override readonly name = "StepError";
  constructor(readonly step: string, readonly error: JobError) {
    super(`${step}: ${error.code}: ${error.message}`);
  }
}

/** Thrown inside a render when its lease was lost or it was cancelled: stop quietly. */
export class RenderAborted extends Error {
  override readonly name = "RenderAborted";
  constructor(readonly reason: "cancelled" | "lease_lost" | "shutdown") {
    super(`render aborted: ${reason}`);
  }
}

/**
 * The attempt failed for good: a step's own non-retryable failure (recorded on its row), not
 * a stop. It decides the render's fate even when a shutdown or a lease lost aborted the
 * attempt meanwhile: handed back, the render would be run (and paid for) again by the next
 * worker, only to fail the same way.
 */
export function failedForGood(e: unknown): boolean {
  return !(e instanceof RenderAborted) && !toJobError(e).retryable;
}

/** Map anything thrown by a render attempt to the JobError stored in last_error. */
export function toJobError(e: unknown): JobError {
  if (e instanceof StepError) return e.error;
  if (e instanceof CapacityError) return { code: "capacity", message: e.message, retryable: true };
  // A 200 that was not JSON (a proxy's page, for once) is worth another attempt, as a 5xx is.
  // A 429 of any code (a gateway's rate limit as much as `capacity`) asks for fewer requests, not another request.
  if (e instanceof HttpError) return { code: e.code, message: e.message, retryable: e.status >= 500 || e.status === 409 || e.status === 429 || e instanceof MalformedAnswerError };
  const anyE = e as { code?: unknown; retryable?: unknown; message?: unknown };
  if (typeof anyE?.code === "string" && typeof anyE?.retryable === "boolean") {
    return { code: anyE.code, message: String(anyE.message ?? ""), retryable: anyE.retryable };
  }
  if (isTransient(e) || isBrokenCircuit(e)) return { code: errorCode(e), message: String((e as Error).message), retryable: true };
  return { code: "internal", message: String((e as Error)?.message ?? e), retryable: true };
}
