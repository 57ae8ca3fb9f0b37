/**
 * Entry point: `node --import tsx src/main.ts` (npm start). SIGTERM/SIGINT stop gracefully.
 *
 * The handlers are in place before start-up (migrations, the database, the port) begins:
 * as PID 1 in a container node ignores a SIGTERM it has no handler for, so a redeploy that
 * lands during start-up would otherwise wait for the platform's SIGKILL. A signal then
 * lets start-up finish and stops the app it made.
 *
 * A setting loadConfig refuses stops the start with one JSON log line naming it (`bad_config`,
 * exit 2), and a start-up that fails (database, port) with one `start_failed` line (exit 1):
 * an operator reading Railway's log gets the reason on one line rather than a bare stack trace.
 * A graceful stop that fails (exit 1) says so with one `unclean_shutdown` line: renders may
 * not have been handed back, so their leases must run out before another worker resumes them.
 * Those three lines are logged at fatal through a logger of their own, so a LOG_LEVEL of fatal
 * or silent does not leave a worker that exits with no word of why. A stop that goes well
 * logs `shutdown` at info and nothing above it.
 */
import { startApp } from "./app.ts";
import { loadConfig } from "./config.ts";
import { log } from "./log.ts";

/** Why the process is about to exit: shown whatever LOG_LEVEL (a child's level is its own). */
const exitLog = log.child({}, { level: "fatal" });
let starting: ReturnType<typeof startApp> | undefined;
let stopping = false;
for (const sig of ["SIGTERM", "SIGINT"] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    log.info({ event: "shutdown", signal: sig }, "stopping");
    Promise.resolve(starting)
      .then((app) => app?.stop())
      .then(() => process.exit(0), (e) => {
        exitLog.fatal({ event: "unclean_shutdown", signal: sig, err: e instanceof Error ? e.message : String(e), stack: e instanceof Error ? e.stack : undefined }, "unclean shutdown");
        process.exit(1);
      });
  });
}
log.info({ event: "starting" }, "starting");
let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (e) {
  exitLog.fatal({ event: "bad_config", err: e instanceof Error ? e.message : String(e) }, "configuration refused");
  process.exit(2);
}
starting = startApp(config);
try {
  await starting;
} catch (e) {
  exitLog.fatal({ event: "start_failed", err: e instanceof Error ? e.message : String(e), stack: e instanceof Error ? e.stack : undefined }, "start-up failed");
  process.exit(1);
}
