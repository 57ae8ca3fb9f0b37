"""In-house, a job's `cost` counts its parts too: the worker time of the pieces other pool
workers ran for it (a chunked render's chunks), not only the job's own worker's.

Each piece sleeps `seconds`, on the job's worker or on another one, so the job's worker
time summed over every worker is at least `pieces x seconds`; the job's own worker alone
ran only about one piece's worth. A lower bound every run meets: no duration is raced.
"""

from __future__ import annotations

from runtime_support import DEADLINE

from modal_functions.contract.jobs import JobStatus
from modal_functions.runtime.testing import workers_where

KIND = "diagnostic"


def test_the_cost_of_a_job_counts_the_parts_other_workers_ran(make_backend):
    backend = make_backend(workers=3, preload=True)
    workers_where(backend, KIND, 3)
    job = backend.wait(backend.submit(KIND, {"action": "fan_out", "pieces": 3, "seconds": 1.0}).id, DEADLINE)
    assert job.status == JobStatus.succeeded, job.error
    assert len(set(job.result["piece_pids"])) > 1, "no piece ran on another worker: nothing to test"
    assert job.cost is not None and job.cost.resource == "inhouse:cpu"
    assert job.cost.seconds >= 3 * 1.0

