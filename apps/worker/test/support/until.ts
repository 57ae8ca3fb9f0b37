/** Waiting on a condition in tests: polling with a deadline, never a bare sleep. */

/** Poll `fn` until it returns something truthy, or throw after `timeoutMs` naming `what`. */
export async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs: number, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs)); // polling interval of a condition with a deadline
  }
}
