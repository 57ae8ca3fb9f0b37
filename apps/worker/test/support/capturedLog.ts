/** A pino logger whose JSON lines a test reads back: `lines` holds each line, parsed. */
import { Writable } from "node:stream";
import pino, { type Logger } from "pino";

export function capturedLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: "info" }, new Writable({ write(chunk, _enc, cb) { lines.push(JSON.parse(String(chunk))); cb(); } }));
  return { log, lines };
}
