"""A Modal job record written by another version of the code (a deploy) or damaged: answered
failed `record_unreadable` (retryable), its call cancelled and its slot freed, never a 500."""

from __future__ import annotations

import pytest

from modal_functions.contract.jobs import JobStatus
from modal_functions.errors import CapabilityError
from modal_functions.modal_layer.backend import job_key


def _rewrite(backend, job_id, change):
    rec = dict(backend.p.jobs[job_key(job_id)])
    rec["job"] = change(dict(rec["job"]))
    backend.p.jobs[job_key(job_id)] = rec


def test_a_record_from_another_version_is_failed_record_unreadable_and_its_call_cancelled(backend):
    job = backend.submit("diagnostic", {"action": "sleep", "seconds": 30, "steps": 30}, idempotency_key="k-1")
    call_id = backend.p.jobs[job_key(job.id)]["call_id"]
    _rewrite(backend, job.id, lambda j: {**j, "attempts": "several"})  # a field another version writes with another type

    seen = backend.poll(job.id)
    assert seen.status == JobStatus.failed and seen.error.code == "record_unreadable" and seen.error.retryable
    assert seen.idempotency_key == "k-1" and seen.input["action"] == "sleep"
    assert backend.find_by_idempotency_key("k-1").id == job.id
    assert backend.p.function_call(call_id)._cancelled  # nobody would read its output
    assert backend.capacity()["diagnostic"].busy == 0  # its slot is free again
    assert backend.p.jobs[job_key(job.id)]["unreadable"]["attempts"] == "several"  # the record is kept


def test_a_record_of_an_unknown_kind_is_410_and_left_as_it_was(backend):
    job = backend.submit("diagnostic", {"action": "succeed"})
    backend.wait(job.id, 30)
    _rewrite(backend, job.id, lambda j: {**j, "kind": "make_coffee"})
    with pytest.raises(CapabilityError) as e:
        backend.poll(job.id)
    assert e.value.code == "record_unreadable" and e.value.http_status == 410
    assert backend.p.jobs[job_key(job.id)]["job"]["kind"] == "make_coffee"


def test_fields_a_newer_version_added_are_ignored_and_the_record_left_alone(backend):
    """During a rollout (or after a rollback) a record with fields this version does not know is
    read as it is: never failed, never rewritten, its call never cancelled."""
    job = backend.submit("diagnostic", {"action": "succeed", "payload": "new"})
    backend.wait(job.id, 30)
    _rewrite(backend, job.id, lambda j: {**j, "priority": 5, "progress": {**j["progress"], "eta_s": 3}})
    seen = backend.poll(job.id)
    assert seen.status == JobStatus.succeeded and seen.result["echo"] == "new"
    stored = backend.p.jobs[job_key(job.id)]
    assert stored["job"]["priority"] == 5 and "unreadable" not in stored
