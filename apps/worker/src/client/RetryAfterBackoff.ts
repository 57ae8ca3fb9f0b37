import type { IBackoff, IBackoffFactory, IRetryBackoffContext } from "cockatiel";
import { HttpError } from "./errors.ts";

type Ctx = IRetryBackoffContext<unknown>;

function retryAfterOf(ctx: Ctx): number | undefined {
  const r = ctx.result as { error?: unknown };
  return r && r.error instanceof HttpError ? r.error.retryAfterMs : undefined;
}

/**
 * Wraps a backoff (exponential with jitter) so a server's Retry-After wins when it asks for
 * longer than the backoff would wait, capped at `maxDelayMs`.
 */
export class RetryAfterBackoff implements IBackoffFactory<Ctx> {
  constructor(private readonly inner: IBackoffFactory<Ctx>, private readonly maxDelayMs: number) {}

  next(ctx: Ctx): IBackoff<Ctx> {
    return this.wrap(this.inner.next(ctx), ctx);
  }

  private wrap(b: IBackoff<Ctx>, ctx: Ctx): IBackoff<Ctx> {
    const ra = retryAfterOf(ctx);
    const duration = ra === undefined ? b.duration : Math.min(this.maxDelayMs, Math.max(b.duration, ra));
    return { duration, next: (c: Ctx) => this.wrap(b.next(c), c) };
  }
}
