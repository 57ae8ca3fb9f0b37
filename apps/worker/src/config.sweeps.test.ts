import assert from "node:assert/strict";
import { test } from "node:test";
import { loadConfig } from "./config.ts";

test("the drain bound and the sweeps' intervals default as the worker does and are set from the environment", () => {
  const d = loadConfig({}).worker;
  assert.deepEqual(
    [d.drainTimeoutMs, d.orphanSweepMs, d.orphanCancelMaxAgeMs, d.unpublishRetryMs],
    [10_000, 30_000, 6 * 3600_000, 30_000],
  );
  const c = loadConfig({ WORKER_DRAIN_MS: "25000", WORKER_ORPHAN_SWEEP_MS: "5000", WORKER_ORPHAN_GIVE_UP_H: "1.5", WORKER_UNPUBLISH_RETRY_MS: "1000" }).worker;
  assert.deepEqual([c.drainTimeoutMs, c.orphanSweepMs, c.orphanCancelMaxAgeMs, c.unpublishRetryMs], [25_000, 5_000, 5_400_000, 1_000]);
  assert.equal(loadConfig({ WORKER_DRAIN_MS: "0" }).worker.drainTimeoutMs, 0, "0: stop() does not wait for the background work");
});

test("a drain bound or sweep interval out of range is refused at start, naming it", () => {
  for (const [name, v] of [
    ["WORKER_DRAIN_MS", "-1"], ["WORKER_DRAIN_MS", "1.5"], ["WORKER_DRAIN_MS", "600001"],
    ["WORKER_ORPHAN_SWEEP_MS", "0"], ["WORKER_ORPHAN_SWEEP_MS", String(2 ** 31)],
    ["WORKER_ORPHAN_GIVE_UP_H", "0"], ["WORKER_ORPHAN_GIVE_UP_H", "-2"], ["WORKER_ORPHAN_GIVE_UP_H", "x"],
    ["WORKER_UNPUBLISH_RETRY_MS", "0"],
  ] as const) {
    assert.throws(() => loadConfig({ [name]: v }), new RegExp(`${name}=`), `${name}=${v}`);
  }
});
