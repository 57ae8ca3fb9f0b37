import pino from "pino";

/** The levels LOG_LEVEL may name (any case); config.ts refuses any other at start. */
export const LOG_LEVELS = [...Object.keys(pino.levels.values), "silent"];

/**
 * LOG_LEVEL, or the default when it is empty or not a level: pino throws on a level it does
 * not know, and here, before the config is read, that was an uncaught stack trace instead of
 * the one `bad_config` line loadConfig gives it.
 */
function level(): string {
  const wanted = process.env.LOG_LEVEL?.trim().toLowerCase();
  if (wanted && LOG_LEVELS.includes(wanted)) return wanted;
  return process.env.NODE_TEST_CONTEXT ? "silent" : "info";
}

/** Structured JSON logs (pino). LOG_LEVEL sets the level; tests default to "silent". */
export const log = pino({
  level: level(),
  base: { service: "canvascast-worker" },
  timestamp: pino.stdTimeFunctions.isoTime,
});
export type Logger = pino.Logger;
