/**
 * Run a statement that ends this worker's hold on a render (complete, fail, release) again
 * when it throws (a dropped connection, a failover), a few times with a doubling pause. Left
 * unrecorded, the render stays `running` under a lease no one renews: once it lapses the
 * render is reclaimed as a new attempt and runs again (a step that failed for good is paid
 * for twice; a render handed back at shutdown on its last attempt goes `dead`). The caller's
 * heartbeat keeps the lease meanwhile. Each statement is guarded by `locked_by`, so running
 * one again after it committed unseen changes nothing (it answers as if the lease were gone).
 */
export async function retryStatement<T>(run: () => Promise<T>, tries = 5, firstPauseMs = 100): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await run();
    } catch (e) {
      if (i >= tries) throw e;
      await new Promise((r) => setTimeout(r, firstPauseMs * 2 ** (i - 1))); // backoff between tries, not a test wait
    }
  }
}
