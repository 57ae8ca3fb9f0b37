/**
 * A connection that goes silent mid-query (a pooler hung on its backend, a path that drops
 * packets: nothing resets the socket) must fail the query, not hang it: the claim loop and
 * every heartbeat await these queries, so one such connection stopped claiming for good.
 * Real PostgreSQL behind a TCP proxy on 127.0.0.1 that stops forwarding on cue.
 */
import assert from "node:assert/strict";
import { connect, createServer, type Server, type Socket } from "node:net";
import { test } from "node:test";
import { clusterPort, createTestDatabase, postgresAvailable } from "../../test/support/postgres.ts";
import { openPostgres } from "./postgres.ts";

/** Forwards to `port`; `stall()` makes every connection open now drop what it carries, both ways (new ones forward). */
async function stallingProxy(port: number): Promise<{ port: number; stall: () => void; close: () => Promise<void> }> {
  const pairs: Array<{ stalled: boolean; a: Socket; b: Socket }> = [];
  const server: Server = createServer((a) => {
    const b = connect(port, "127.0.0.1");
    const pair = { stalled: false, a, b };
    pairs.push(pair);
    a.on("data", (d) => void (pair.stalled || b.write(d)));
    b.on("data", (d) => void (pair.stalled || a.write(d)));
    const end = () => (a.destroy(), b.destroy());
    a.on("error", end).on("close", end);
    b.on("error", end).on("close", end);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as { port: number }).port,
    stall: () => pairs.forEach((p) => (p.stalled = true)),
    close: async () => {
      pairs.forEach((p) => (p.a.destroy(), p.b.destroy()));
      await new Promise((r) => server.close(r));
    },
  };
}

test("a query on a connection that stops answering fails, and the next query gets a fresh connection", { timeout: 20_000, skip: !postgresAvailable() && "no PostgreSQL" }, async () => {
  const t = createTestDatabase("cc_stall");
  const proxy = await stallingProxy(clusterPort());
  const url = new URL(t.url);
  url.port = String(proxy.port);
  const db = openPostgres(url.toString(), 1, { queryTimeoutMs: 2000 });
  try {
    assert.deepEqual(await db.query("select 1 as one"), [{ one: 1 }]);
    proxy.stall(); // the pooled connection still looks open, but nothing comes back on it
    await assert.rejects(db.query("select 2 as two"), /timeout/i);
    assert.deepEqual(await db.query("select 3 as three"), [{ three: 3 }], "the silent connection was dropped, not handed out again");
  } finally {
    await proxy.close();
    await db.close();
    t.drop();
  }
});
