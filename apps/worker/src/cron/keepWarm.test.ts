import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ComputeClient } from "../client/modal-client.ts";
import { log } from "../log.ts";
import { ComputeServer } from "../../test/support/computeServer.ts";
import { tempDir } from "../../test/support/tmp.ts";
import { parseBusinessHours } from "./businessHours.ts";
import { KeepWarm } from "./keepWarm.ts";

type Task = { execute(): Promise<unknown>; getNextRun(): Date | null };
const taskOf = (kw: KeepWarm) => (kw as unknown as { task: Task }).task;
const quiet = () => {
  const warns: Array<Record<string, unknown>> = [];
  const l = { info() {}, error() {}, debug() {}, warn: (o: Record<string, unknown>) => void warns.push(o), child: () => l };
  return { log: l as unknown as typeof log, warns };
};

/** A backend whose warm() answers only when the test says so, counting calls. */
function slowBackend() {
  const pending: Array<() => void> = [];
  const backend = {
    name: "inhouse",
    calls: 0,
    warm() {
      backend.calls++;
      return new Promise((resolve) => pending.push(() => resolve({ id: `l${backend.calls}`, kinds: ["diagnostic"], expires_at: "2026-11-23T10:00:00Z" })));
    },
    answer: () => pending.splice(0).forEach((f) => f()),
  };
  return backend;
}

const turn = () => new Promise((r) => setImmediate(r)); // lets pending promise callbacks run; no timing

describe("keep-warm scheduling", () => {
  const always = parseBusinessHours("*", "00:00-23:59", "UTC");
  const NEVER_FIRES = "0 0 1 1 *"; // the cron's own clock stays out of these tests; they drive it with execute()

  test("at most one tick runs at once: a cron tick during the first (direct) tick joins it, and cron waits for the tick", async () => {
    const backend = slowBackend();
    const { log: l } = quiet();
    const kw = new KeepWarm([backend as never], { schedule: NEVER_FIRES, hours: always, kinds: ["diagnostic"], ttlS: 600 }, l);
    kw.start(); // the first tick, fired directly
    try {
      assert.equal(backend.calls, 1);
      let cronDone = false;
      const cronTick = taskOf(kw).execute().then((r) => ((cronDone = true), r));
      await turn();
      assert.equal(backend.calls, 1, "no second renewal while the first is in flight");
      assert.equal(cronDone, false, "the cron tick joins the one in flight and ends with it");
      backend.answer();
      assert.deepEqual(await cronTick, [{ backend: "inhouse", lease_id: "l1", expires_at: "2026-11-23T10:00:00Z" }]);
      const next = taskOf(kw).execute();
      await turn();
      assert.equal(backend.calls, 2, "once it finished, the next tick renews again");
      backend.answer();
      await next;
    } finally {
      kw.stop();
    }
  });

  test("WARM_CRON is read in WARM_TZ", () => {
    const ny = parseBusinessHours("1-5", "08:00-20:00", "America/New_York");
    const { log: l } = quiet();
    const kw = new KeepWarm([], { schedule: "0 8 * * 1-5", hours: ny, kinds: ["diagnostic"], ttlS: 86_400 }, l);
    kw.start();
    try {
      const next = taskOf(kw).getNextRun()!;
      assert.equal(next.toLocaleTimeString("en-US", { timeZone: "America/New_York", hourCycle: "h23" }), "08:00:00");
    } finally {
      kw.stop();
    }
  });

  test("a TTL not longer than the tick interval is logged: leases would lapse between ticks", () => {
    for (const [ttlS, warned] of [[300, true], [301, false]] as const) {
      const { log: l, warns } = quiet();
      const kw = new KeepWarm([], { schedule: "*/5 * * * *", hours: always, kinds: ["diagnostic"], ttlS }, l);
      kw.start();
      kw.stop();
      assert.equal(warns.some((w) => w.event === "warm_ttl_short" && w.tick_s === 300), warned, `ttl ${ttlS}`);
    }
  });
});

describe("keep-warm cron against a real compute server", () => {
  const dir = tempDir("cc-warm-");
  const server = new ComputeServer({ dataDir: dir.path, token: "t", kinds: ["diagnostic"] });
  before(async () => void (await server.start()));
  after(async () => {
    await server.stop();
    dir.cleanup();
  });

  const hours = parseBusinessHours("1-5", "08:00-20:00", "UTC");
  const make = (now: string) =>
    new KeepWarm([new ComputeClient({ name: "inhouse", baseUrl: server.url, token: "t" })], { schedule: "*/5 * * * *", hours, kinds: ["diagnostic"], ttlS: 600 }, log, () => new Date(now));

  test("inside business hours a tick renews a warm lease with the TTL", async () => {
    const t0 = Date.now();
    const leases = await make("2026-11-23T09:00:00Z").tick(); // a Monday morning
    assert.equal(leases.length, 1);
    assert.equal(leases[0]!.backend, "inhouse");
    const expires = Date.parse(leases[0]!.expires_at);
    assert.ok(expires >= t0 + 590_000 && expires <= Date.now() + 610_000, "expires after the TTL");
    const health = (await (await fetch(`${server.url}/health`)).json()) as { warm: Record<string, boolean> };
    assert.equal(typeof health.warm.diagnostic, "boolean");
  });

  test("outside business hours a tick does nothing, so leases lapse by themselves", async () => {
    assert.deepEqual(await make("2026-11-22T09:00:00Z").tick(), []); // Sunday
    assert.deepEqual(await make("2026-11-23T21:00:00Z").tick(), []); // Monday evening
  });

  test("a bad cron expression is refused", () => {
    assert.throws(() => new KeepWarm([], { schedule: "every minute", hours, kinds: ["diagnostic"], ttlS: 60 }, log));
  });
});
