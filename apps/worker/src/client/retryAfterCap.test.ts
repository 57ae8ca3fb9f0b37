/**
 * What the README promises for HTTP_RETRY_MAX_MS: a 5xx's Retry-After wins over the backoff
 * when longer, but no wait between attempts is longer than the cap (a call must not sit for
 * minutes on one backend while the router could place the step elsewhere).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConstantBackoff, type IRetryBackoffContext } from "cockatiel";
import { HttpError } from "./errors.ts";
import { RetryAfterBackoff } from "./RetryAfterBackoff.ts";

const ctx = (retryAfterMs?: number): IRetryBackoffContext<unknown> =>
  ({ attempt: 1, signal: new AbortController().signal, result: { error: new HttpError(503, "unavailable", "busy", retryAfterMs) } });

test("a Retry-After longer than the backoff wins, up to HTTP_RETRY_MAX_MS", () => {
  const b = new RetryAfterBackoff(new ConstantBackoff(200), 10_000);
  assert.equal(b.next(ctx(3_000)).duration, 3_000, "longer than the backoff: the server's wait");
  assert.equal(b.next(ctx(100)).duration, 200, "shorter than the backoff: the backoff");
  assert.equal(b.next(ctx(120_000)).duration, 10_000, "longer than the cap: the cap");
  assert.equal(b.next(ctx()).duration, 200, "none: the backoff");
});
