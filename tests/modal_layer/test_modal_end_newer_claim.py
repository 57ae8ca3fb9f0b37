"""An ending claimed by a newer version is read as a stored job is, and never a 500.

`_end` claims the job's ending (`end:<id>`) and, when another container claimed it first,
answers (and stores) that claim. During a rollout that container may run a newer version:
its claim can carry a field this version does not know (ignored, as in every stored job:
`read_stored_job`), or a value this version cannot read at all. `_end` validated the claim
strictly, so a cancel (or a poll that saw the call's result) answered a ValidationError, a
500, on every try. An unreadable claim now leaves this version's own ending standing, as
`_salvage` does.

On the fake primitives; the newer container is stood in for by its Dict write.
"""

from __future__ import annotations

from modal_functions.contract.jobs import JobStatus
from modal_functions.modal_layer.backend import _ended, end_key, job_key

LONG = {"action": "sleep", "seconds": 30, "steps": 30}


def _claim_elsewhere(backend, job, **changes):
    ended = _ended(job, JobStatus.failed, "timeout", "ended by a newer container", True).model_dump(mode="json")
    backend.p.jobs[end_key(job.id)] = {**ended, **changes}


def test_a_claim_with_a_field_this_version_does_not_know_is_the_ending_that_stands(backend):
    job = backend.submit("diagnostic", LONG)
    _claim_elsewhere(backend, job, placement={"region": "eu"})
    seen = backend.cancel(job.id)
    assert seen.status == JobStatus.failed and seen.error.code == "timeout"
    assert backend.p.jobs[job_key(job.id)]["job"]["error"]["code"] == "timeout"
    assert backend.capacity()["diagnostic"].busy == 0


def test_a_claim_this_version_cannot_read_leaves_its_own_ending(backend):
    job = backend.submit("diagnostic", LONG)
    call_id = backend.p.jobs[job_key(job.id)]["call_id"]
    _claim_elsewhere(backend, job, status="parked")  # a status this version has no name for
    seen = backend.cancel(job.id)
    assert seen.status == JobStatus.cancelled
    assert backend.p.jobs[job_key(job.id)]["job"]["status"] == "cancelled"
    assert backend.p.function_call(call_id)._cancelled
    assert backend.capacity()["diagnostic"].busy == 0
