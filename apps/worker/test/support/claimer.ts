/**
 * One queue-race worker process: claims renders from Postgres until none are left,
 * logging every claim in claim_log (no unique constraint, so a double claim would show),
 * then completes it. Prints `{"worker", "claims", "seconds"}` as JSON on stdout.
 * Usage: node --import tsx test/support/claimer.ts <DATABASE_URL> <worker-id>
 */
import { openPostgres } from "../../src/db/postgres.ts";
import { claim, complete } from "../../src/queue/index.ts";

const [url, workerId] = process.argv.slice(2);
if (!url || !workerId) throw new Error("usage: claimer.ts <url> <worker-id>");
const db = openPostgres(url, 1);
let claims = 0;
// Say ready, then wait for the start signal so all processes begin together.
await db.query(`insert into claim_ready (worker) values ($1)`, [workerId]);
while ((await db.query(`select 1 from claim_start`)).length === 0) await new Promise((r) => setTimeout(r, 5));
const t0 = performance.now();
for (;;) {
  const row = await claim(db, workerId, 30);
  if (!row) break;
  await db.query(`insert into claim_log (render_id, worker) values ($1, $2)`, [row.id, workerId]);
  await complete(db, row.id, workerId, { by: workerId });
  claims++;
}
const seconds = (performance.now() - t0) / 1000;
await db.close();
process.stdout.write(JSON.stringify({ worker: workerId, claims, seconds }) + "\n");
