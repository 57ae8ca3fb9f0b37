// Preloaded into a main.ts child (NODE_OPTIONS=--import) by main.uncleanShutdown.test.ts: once
// the process is told to stop, the database refuses to close, so the worker's graceful stop
// fails as a real unclean shutdown would. (PGlite closes things of its own while it starts.)
import { PGlite } from "@electric-sql/pglite";

let stopping = false;
process.once("SIGTERM", () => (stopping = true)); // added before main.ts's handler: runs first
const close = PGlite.prototype.close;
PGlite.prototype.close = async function (...args) {
  if (stopping) throw new Error("database would not close (test)");
  return close.apply(this, args);
};
