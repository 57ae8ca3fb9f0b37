/**
 * A Retry-After far in the future (huge delta seconds, hundreds of digits, a far HTTP date)
 * must come out as a delay a timer can wait: Node runs a setTimeout above 2^31-1 ms (and
 * Infinity) after 1 ms, so a caller that sleeps for the hint (the router waits a 429's
 * Retry-After before asking again) would ask again at once, in a tight loop.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { CapacityError, HttpError, parseRetryAfter } from "./errors.ts";
import { ComputeClient } from "./modal-client.ts";

const TIMER_MAX_MS = 2 ** 31 - 1;
let retryAfter = "";
let server: Server;
let url = "";
before(async () => {
  server = createServer((_req, res) => {
    res.writeHead(429, { "content-type": "application/json", "retry-after": retryAfter });
    res.end(JSON.stringify({ error: { code: "capacity", message: "full" } }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

test("a huge Retry-After is a delay a timer can wait, not Infinity or past Node's timer limit", async () => {
  const c = new ComputeClient({ name: "modal", baseUrl: url, policy: { maxAttempts: 1 } });
  for (const v of ["9999999999", "9".repeat(400), "Fri, 31 Dec 9999 23:59:59 GMT"]) {
    retryAfter = v;
    const e = await c.get("j1").then(() => null, (err: unknown) => err);
    assert.ok(e instanceof CapacityError, String(e));
    const ms = (e as HttpError).retryAfterMs;
    assert.ok(Number.isFinite(ms) && ms! >= 0 && ms! <= TIMER_MAX_MS, `Retry-After ${v.slice(0, 40)} -> ${ms}`);
  }
});

test("ordinary Retry-After values are unchanged", () => {
  const now = Date.parse("2026-11-23T10:00:00Z");
  assert.equal(parseRetryAfter("5", now), 5000);
  assert.equal(parseRetryAfter("1.5", now), 1500);
  assert.equal(parseRetryAfter("Mon, 23 Nov 2026 10:00:30 GMT", now), 30_000);
  assert.equal(parseRetryAfter("Mon, 23 Nov 2026 09:00:00 GMT", now), 0, "a date in the past: no wait");
  assert.equal(parseRetryAfter("soon", now), undefined);
  assert.equal(parseRetryAfter(null, now), undefined);
});
