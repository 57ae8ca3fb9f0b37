import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ComputeClient } from "../client/modal-client.ts";
import { log } from "../log.ts";
import { ComputeServer } from "../../test/support/computeServer.ts";
import { tempDir } from "../../test/support/tmp.ts";
import { parseBusinessHours } from "./businessHours.ts";
import { KeepWarm } from "./keepWarm.ts";

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
