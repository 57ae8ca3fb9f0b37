/** A compute plane that takes every request and never answers it (or answers a script first), for abort tests. */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface SilentCompute {
  url: string;
  /** `METHOD path` of every request seen, in order. */
  seen: string[];
  /** How many of the held (unanswered) requests the client has closed its end of. */
  closedByClient: () => number;
  close: () => Promise<void>;
}

/**
 * `answer` may answer a request itself (return true); every other request is held, never
 * answered, until `close()`.
 */
export async function silentCompute(answer?: (req: IncomingMessage, res: ServerResponse) => boolean): Promise<SilentCompute> {
  const seen: string[] = [];
  let closed = 0;
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (answer?.(req, res)) return;
    res.once("close", () => closed++); // the client gave up on it (nothing was written)
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    closedByClient: () => closed,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
