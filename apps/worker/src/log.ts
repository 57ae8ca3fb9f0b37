import pino from "pino";

/** Structured JSON logs (pino). LOG_LEVEL sets the level; tests default to "silent". */
export const log = pino({
  level: process.env.LOG_LEVEL ?? (process.env.NODE_TEST_CONTEXT ? "silent" : "info"),
  base: { service: "canvascast-worker" },
  timestamp: pino.stdTimeFunctions.isoTime,
});
export type Logger = pino.Logger;
