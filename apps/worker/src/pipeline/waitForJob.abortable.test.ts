/**
 * A render stopping (shutdown, lease lost, cancelled) ends its poll at once, even with a GET
 * in flight: the request is closed and waitForJob rejects with the render's RenderAborted, the
 * error the pipeline hands the render back with (not a failed step). It used to wait for the
 * GET to run out its retry policy, longer than a deploy's drain.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ComputeClient } from "../client/modal-client.ts";
import { silentCompute } from "../client/silentCompute.abortable.support.ts";
import { until } from "../../test/support/until.ts";
import { RenderAborted } from "./errors.ts";
import { waitForJob } from "./waitForJob.ts";

test("a poll whose render stops while its GET is in flight ends at once with the RenderAborted", async () => {
  const compute = await silentCompute();
  const client = new ComputeClient({ name: "inhouse", baseUrl: compute.url, policy: { attemptTimeoutMs: 3_600_000, maxAttempts: 4 } });
  try {
    const ctrl = new AbortController();
    let error: unknown;
    let settled = false;
    waitForJob(client, "j1", { signal: ctrl.signal }).then(() => (settled = true), (e) => ((error = e), (settled = true)));
    await until("the GET under way", async () => compute.seen.length === 1, 10_000, 5);
    const stop = new RenderAborted("shutdown");
    ctrl.abort(stop);
    await until("the poll ended", async () => settled, 10_000, 5).catch(() => assert.fail("the poll still waits for its GET"));
    assert.equal(error, stop);
    await until("the GET closed", async () => compute.closedByClient() === 1, 10_000, 5);
    assert.equal(compute.seen.length, 1);
    assert.equal(client.breakerState, "closed");
  } finally {
    await compute.close();
  }
});
