/**
 * A cron tick whose timer fires late (an event-loop stall, a paused container) must still
 * renew the leases. node-cron drops a tick more than `missedExecutionTolerance` (1 s by
 * default) late and never catches up: with a daily pre-warm ("0 8 * * 1-5") one stall at
 * 08:00 left the pools cold all day. Real node-cron on mocked timers: the clock jumps past
 * the tick as a stalled process would see it.
 */
import assert from "node:assert/strict";
import { afterEach, beforeEach, mock, test } from "node:test";
import { parseBusinessHours } from "./businessHours.ts";
import { KeepWarm } from "./keepWarm.ts";

const turn = () => new Promise((r) => setImmediate(r)); // lets pending promise callbacks run; no timing

beforeEach(() => mock.timers.enable({ apis: ["setTimeout", "Date"], now: Date.parse("2026-11-24T07:59:59Z") })); // a Tuesday
afterEach(() => mock.timers.reset());

function setup(schedule: string) {
  const backend = {
    name: "inhouse",
    calls: 0,
    async warm() {
      backend.calls++;
      return { id: `l${backend.calls}`, kinds: ["diagnostic"], expires_at: "2026-11-24T20:00:00Z" };
    },
  };
  const lines: Array<{ level: string; fields: Record<string, unknown> }> = [];
  const l = {
    info: (fields: Record<string, unknown>) => void lines.push({ level: "info", fields }),
    warn: (fields: Record<string, unknown>) => void lines.push({ level: "warn", fields }),
    error: (fields: Record<string, unknown>) => void lines.push({ level: "error", fields }),
    debug() {},
    child: () => l,
  };
  const kw = new KeepWarm([backend as never], { schedule, hours: parseBusinessHours("1-5", "08:00-20:00", "UTC"), kinds: ["diagnostic"], ttlS: 43_200 }, l as never);
  return { kw, backend, lines };
}

for (const lateMs of [3_000, 5 * 60_000]) {
  test(`the daily 08:00 pre-warm tick still renews when its timer fires ${lateMs / 1000} s late`, async () => {
    const { kw, backend } = setup("0 8 * * 1-5");
    kw.start(); // 07:59:59: the direct first tick is outside business hours, renews nothing
    try {
      await turn();
      assert.equal(backend.calls, 0);
      mock.timers.tick(1000 + lateMs); // the 08:00:00 timer runs only now: the process was stalled
      for (let i = 0; i < 5 && backend.calls === 0; i++) await turn();
      assert.equal(backend.calls, 1, "the late 08:00 tick renewed the lease");
    } finally {
      kw.stop();
    }
  });
}

test("a tick missed for good (the next one came first) is logged in the worker's JSON log, not node-cron's console", async () => {
  const warned: string[] = [];
  const orig = console.warn;
  console.warn = (...a: unknown[]) => void warned.push(a.map(String).join(" "));
  const { kw, backend, lines } = setup("*/5 * * * *");
  kw.start();
  try {
    await turn();
    mock.timers.tick(1000 + 6 * 60_000); // 08:00 and 08:05 due, the timer fires at 08:06: 08:00 is gone
    for (let i = 0; i < 5 && backend.calls === 0; i++) await turn();
    assert.equal(backend.calls, 1, "the latest tick (08:05) ran");
    assert.deepEqual(warned, [], "nothing on node-cron's own console logger");
    assert.ok(lines.some((x) => x.level === "warn" && x.fields.event === "warm_tick_missed"), JSON.stringify(lines));
  } finally {
    console.warn = orig;
    kw.stop();
  }
});
