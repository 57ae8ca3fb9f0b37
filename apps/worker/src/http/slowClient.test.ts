import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, test } from "node:test";
import { ComputeClient } from "../client/modal-client.ts";
import { migrate } from "../db/migrate.ts";
import { openPglite } from "../db/pglite.ts";
import type { Db } from "../db/db.ts";
import { log } from "../log.ts";
import { Metrics } from "../metrics.ts";
import { Router } from "../router/index.ts";
import { parseTokens } from "./auth.ts";
import { buildApi } from "./server.ts";

// A client that sends part of its request and then nothing (slowloris) gets a 408 in the error
// shape once requestTimeout has passed. Node checked request timeouts only every 30 s, so
// such a connection was held until then: longer than this test waits for any answer.
const REQUEST_TIMEOUT_MS = 300;
const GIVE_UP_MS = 10_000; // a bound on waiting, not an asserted duration

let db: Db;
let app: ReturnType<typeof buildApi>;
let port: number;
before(async () => {
  db = await openPglite();
  await migrate(db);
  const router = new Router({ inhouse: new ComputeClient({ name: "inhouse", baseUrl: "http://127.0.0.1:9" }) });
  app = buildApi({ db, router, metrics: new Metrics(), log, tokens: parseTokens("tok-alice:alice"), requestTimeoutMs: REQUEST_TIMEOUT_MS });
  port = Number(new URL(await app.listen({ host: "127.0.0.1", port: 0 })).port);
});
after(async () => {
  await app.close();
  await db.close();
});

test("a request that stops arriving gets a retryable 408 in the error shape, soon after requestTimeout", async () => {
  const answer = await new Promise<string>((resolve, reject) => {
    let out = "";
    const s = connect(port, "127.0.0.1", () => s.write("POST /v1/renders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-alice\r\n"));
    s.setTimeout(GIVE_UP_MS, () => s.destroy(new Error("no answer while the connection was held open")));
    s.on("data", (d) => (out += d.toString("latin1")));
    s.on("close", () => resolve(out));
    s.on("error", (e) => (out ? resolve(out) : reject(e)));
  });
  const [head = "", body = ""] = answer.split("\r\n\r\n");
  assert.match(head, /^HTTP\/1\.1 408 /, answer);
  assert.deepEqual(JSON.parse(body).error.code, "request_timeout");
  assert.equal(JSON.parse(body).error.retryable, true);
});
