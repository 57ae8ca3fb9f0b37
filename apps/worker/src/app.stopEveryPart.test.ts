/**
 * `app.stop()` closes every part of the app even when one of them fails to close: a part
 * left open (the render loop still claiming, the database never closed, a keep-warm timer)
 * would hold renders under leases no one hands back and keep the process from exiting. The
 * failures are reported together, after every part was tried.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { startApp } from "./app.ts";
import { loadConfig } from "./config.ts";
import { log } from "./log.ts";
import { tempDir } from "../test/support/tmp.ts";

const quiet = log.child({}, { level: "silent" });

test("a part that fails to close does not keep the parts after it open; the failures are reported together", async () => {
  const dir = tempDir();
  try {
    const config = loadConfig({
      DATABASE_URL: "memory://", WORKER_PORT: "0", WARM_ENABLED: "0", CANVASCAST_DATA_DIR: dir.path,
      WORKER_TOKENS: "t:o", COMPUTE_URL: "http://127.0.0.1:9", WORKER_POLL_MS: "10",
    });
    const app = await startApp(config, { log: quiet });
    const closed: string[] = [];
    const api = app.api!;
    const apiClose = api.close.bind(api);
    api.close = (async () => {
      await apiClose();
      throw new Error("api close failed");
    }) as unknown as typeof api.close;
    const workerStop = app.worker!.stop.bind(app.worker!);
    app.worker!.stop = async () => {
      await workerStop();
      closed.push("worker");
    };
    const routerClose = app.router.close.bind(app.router);
    app.router.close = async () => {
      await routerClose();
      closed.push("router");
      throw new Error("router close failed");
    };
    const dbClose = app.db.close.bind(app.db);
    app.db.close = async () => {
      await dbClose();
      closed.push("db");
    };
    const err = await app.stop().then(() => null, (e: unknown) => e);
    assert.deepEqual(closed, ["worker", "router", "db"], "every part after the failing one is closed too");
    assert.ok(err instanceof AggregateError, `one error naming every failure (got ${String(err)})`);
    assert.deepEqual((err as AggregateError).errors.map((e: Error) => e.message), ["api close failed", "router close failed"]);
  } finally {
    dir.cleanup();
  }
});
