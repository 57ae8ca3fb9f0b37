import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ComputeClient } from "./client/modal-client.ts";
import type { Db } from "./db/db.ts";
import { migrate } from "./db/migrate.ts";
import { openPostgres } from "./db/postgres.ts";
import { log } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { claim, enqueue, getRender } from "./queue/index.ts";
import { Router } from "./router/index.ts";
import type { Publisher } from "./storage/publisher.ts";
import { createTestDatabase } from "../test/support/postgres.ts";
import { Worker } from "./worker.ts";

const pg = createTestDatabase("cc_worker");
let db: Db;
before(async () => {
  db = openPostgres(pg.url, 2);
  await migrate(db);
});
after(async () => {
  await db.close();
  pg.drop();
});

test("a row inserted with an invalid request fails at once with its validation code, not retried", async () => {
  const { row } = await enqueue(db, { owner: "o", request: { scenes: [{ narration: "hi" }], narration_audio: "http://10.0.0.1/a.wav" } });
  const claimed = await claim(db, "w1", 30);
  const router = new Router({ inhouse: new ComputeClient({ name: "inhouse", baseUrl: "http://127.0.0.1:9" }) });
  const worker = new Worker({ db, router, publisher: {} as Publisher, metrics: new Metrics(), log, workerId: "w1" });
  await worker.process(claimed!);
  const r = await getRender(db, row.id);
  assert.equal(r?.status, "failed");
  assert.equal(r?.last_error?.retryable, false);
  assert.match(r?.last_error?.message ?? "", /invalid request/);
});
