/**
 * BREAKER_MIN_RPS=0 (README: "with at least this call rate (≥ 0)") means no minimum rate: the
 * failure rate over a few calls (3 in the window) opens the breaker. cockatiel's
 * SamplingBreaker reads a falsy minimumRps as "guess one" (5 failures a second: 10 calls/s at
 * a 0.5 threshold, 300 calls in a 30 s window), so with 0 the breaker of a dead backend never
 * opened. (That one failure alone must not open it: breakerOneBlip.test.ts.)
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { BrokenCircuitError } from "cockatiel";
import { loadConfig } from "../config.ts";
import { HttpError } from "./errors.ts";
import { ComputeClient } from "./modal-client.ts";

let server: Server;
let url = "";
let hits = 0;
before(async () => {
  server = createServer((_req, res) => {
    hits++;
    res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: "internal", message: "down" } }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

test("BREAKER_MIN_RPS=0: a backend answering only 5xx opens the breaker on its failure rate alone", async () => {
  const { policy } = loadConfig({ BREAKER_MIN_RPS: "0", HTTP_MAX_ATTEMPTS: "1" });
  const c = new ComputeClient({ name: "inhouse", baseUrl: url, policy });
  const before = hits;
  for (let i = 0; i < 5 && c.breakerState === "closed"; i++) await assert.rejects(c.get("j1"), HttpError);
  assert.equal(c.breakerState, "open", `${hits - before} calls, all failed, with no minimum rate`);
  assert.equal(hits - before, 3, "opened on the third failed call: the floor BREAKER_MIN_RPS=0 stands for");
  const opened = hits;
  await assert.rejects(c.get("j1"), BrokenCircuitError);
  assert.equal(hits, opened, "an open breaker does not call the backend");
});

test("a positive BREAKER_MIN_RPS still keeps a few failures below it from opening the breaker", async () => {
  const { policy } = loadConfig({ BREAKER_MIN_RPS: "1000", HTTP_MAX_ATTEMPTS: "1" });
  const c = new ComputeClient({ name: "inhouse", baseUrl: url, policy });
  for (let i = 0; i < 5; i++) await assert.rejects(c.get("j1"), HttpError);
  assert.equal(c.breakerState, "closed");
});
