/**
 * BREAKER_MIN_RPS=0 must not mean "one failure opens the breaker": the retry policy wraps the
 * breaker, so a breaker that opened on a call's first failed attempt failed that call's retry
 * with BrokenCircuitError, and a single 502 followed by a 200 failed the whole call. 0 means
 * the smallest sample that says anything: a few calls in the window (3).
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { loadConfig } from "../config.ts";
import { ComputeClient } from "./modal-client.ts";

let server: Server;
let url = "";
let answers: number[] = [];
before(async () => {
  server = createServer((_req, res) => {
    const status = answers.shift() ?? 200;
    const body = status === 200 ? { id: "j1", kind: "diagnostic", status: "running" } : { error: { code: "bad_gateway", message: "blip" } };
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

test("BREAKER_MIN_RPS=0: one 502 then a 200 is a successful call, and the breaker stays closed", async () => {
  const { policy } = loadConfig({ BREAKER_MIN_RPS: "0", HTTP_RETRY_INITIAL_MS: "1", HTTP_RETRY_MAX_MS: "5" });
  const c = new ComputeClient({ name: "inhouse", baseUrl: url, policy });
  answers = [502];
  const job = await c.get("j1");
  assert.equal(job.id, "j1");
  assert.equal(c.breakerState, "closed");
  assert.equal(answers.length, 0, "the 502 was answered, then retried");
});

test("BREAKER_MIN_RPS=0: two failed attempts in a row still do not open the breaker under its minimum sample", async () => {
  const { policy } = loadConfig({ BREAKER_MIN_RPS: "0", HTTP_RETRY_INITIAL_MS: "1", HTTP_RETRY_MAX_MS: "5" });
  const c = new ComputeClient({ name: "inhouse", baseUrl: url, policy });
  answers = [502, 503];
  assert.equal((await c.get("j1")).id, "j1");
  assert.equal(c.breakerState, "closed");
});
