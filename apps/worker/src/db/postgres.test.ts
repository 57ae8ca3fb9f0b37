import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { test } from "node:test";
import { openPostgres } from "./postgres.ts";

test("a database that accepts connections but never answers fails queries instead of hanging them", { timeout: 8000 }, async () => {
  // A hung pooler or a half-dead host: TCP connects, the Postgres handshake never comes.
  const sockets: Socket[] = [];
  const server = createServer((s) => void sockets.push(s));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const db = openPostgres(`postgres://u:p@127.0.0.1:${(server.address() as { port: number }).port}/db`, 1, { connectTimeoutMs: 100 });
  try {
    await assert.rejects(db.query("select 1"), /timeout/i);
    await assert.rejects(db.transaction((tx) => tx.query("select 1")), /timeout/i);
  } finally {
    for (const s of sockets) s.destroy();
    await db.close();
    await new Promise((r) => server.close(r));
  }
});
