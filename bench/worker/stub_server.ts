/** A minimal compute-plane stand-in for the overhead bench: GET /v1/jobs/:id answers a fixed Job. */
import { createServer } from "node:http";

const JOB = JSON.stringify({
  id: "job_bench", kind: "diagnostic", status: "succeeded", progress: { done: 1, total: 1, unit: "steps", message: "" },
  input: {}, result: { echo: "", pid: 1, loads: 1, attempt: 1 }, error: null, attempts: 1, idempotency_key: null,
  created_at: "2026-01-01T00:00:00Z", started_at: "2026-01-01T00:00:00Z", finished_at: "2026-01-01T00:00:01Z",
  updated_at: "2026-01-01T00:00:01Z", backend: "inhouse", cold_start: false, queue_seconds: 0, cost: null,
});
const server = createServer((_req, res) => {
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(JOB) });
  res.end(JOB);
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: (server.address() as { port: number }).port }) + "\n");
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
