/** Entry point: `node --import tsx src/main.ts` (npm start). SIGTERM/SIGINT stop gracefully. */
import { startApp } from "./app.ts";
import { loadConfig } from "./config.ts";
import { log } from "./log.ts";

const app = await startApp(loadConfig());
let stopping = false;
for (const sig of ["SIGTERM", "SIGINT"] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    log.info({ event: "shutdown", signal: sig }, "stopping");
    app.stop().then(() => process.exit(0), (e) => {
      log.error({ err: String(e) }, "unclean shutdown");
      process.exit(1);
    });
  });
}
