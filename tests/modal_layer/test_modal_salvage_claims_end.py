"""Salvaging an unreadable record claims the job's ending (`end:<id>`), like every other ending.

During a rollout a newer version's container can be settling the job (a cancel, a poll that
saw the result) while this version finds the record unreadable and salvages it. `_end` claims
the ending before it reads the record; `_salvage` wrote its own ending without looking: the
newer container answered (and stored) its ending while this one answered failed
`record_unreadable`, and whichever wrote last stood. Now salvage claims the ending first: a
claim already made is the ending it answers and stores, and a claim of its own makes every
later ending answer the salvage's.

On the fake primitives; the other container is stood in for by its Dict writes.
"""

from __future__ import annotations

from modal_functions.contract.jobs import Job, JobStatus
from modal_functions.modal_layer.backend import _ended, end_key, job_key

LONG = {"action": "sleep", "seconds": 30, "steps": 30}


def _make_unreadable(backend, job_id):
    rec = dict(backend.p.jobs[job_key(job_id)])
    rec["job"] = {**rec["job"], "attempts": "several"}  # a field another version writes with another type
    backend.p.jobs[job_key(job_id)] = rec


def test_an_ending_claimed_elsewhere_is_what_salvage_answers_and_stores(backend):
    job = backend.submit("diagnostic", LONG)
    call_id = backend.p.jobs[job_key(job.id)]["call_id"]
    _make_unreadable(backend, job.id)
    # A newer container cancelling it has claimed the ending, and not yet written the record.
    cancelled = _ended(job, JobStatus.cancelled, "cancelled", "cancelled by request")
    backend.p.jobs[end_key(job.id)] = cancelled.model_dump(mode="json")

    seen = backend.poll(job.id)
    assert seen.status == JobStatus.cancelled, seen.error
    stored = backend.p.jobs[job_key(job.id)]
    assert stored["job"]["status"] == "cancelled" and stored["unreadable"]["attempts"] == "several"
    assert backend.p.function_call(call_id)._cancelled
    assert backend.capacity()["diagnostic"].busy == 0


def test_a_salvage_claims_the_ending_so_a_racing_end_answers_it(backend):
    job = backend.submit("diagnostic", LONG)
    _make_unreadable(backend, job.id)
    salvaged = backend.poll(job.id)
    assert salvaged.error.code == "record_unreadable"
    claimed = backend.p.jobs.get(end_key(job.id))
    assert claimed is not None and Job.model_validate(claimed).error.code == "record_unreadable"

    # A container that read the record before the salvage now ends it its own way: the salvage's ending stands.
    other = backend._end(_ended(job, JobStatus.cancelled, "cancelled", "cancelled by request"))
    assert other.status == JobStatus.failed and other.error.code == "record_unreadable"
