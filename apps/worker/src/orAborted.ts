/**
 * `work`'s outcome, or a rejection with `signal`'s reason as soon as it fires, whichever comes
 * first. `work` runs on unawaited (its outcome is still handled: no unhandled rejection), for
 * what cannot itself be cut short: cockatiel's retry sleeping out its backoff, an HTTP cancel a
 * shutdown will not wait for.
 */
export function orAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
