"""Warm pools: heavy state loaded once per worker, the same process serving many jobs, respawn on death."""

from __future__ import annotations

import os
import signal

from runtime_support import DEADLINE, eventually

from modal_functions.contract.jobs import JobStatus
from modal_functions.runtime.testing import workers_where

KIND = "diagnostic"


def run(backend, **input):
    job = backend.submit(KIND, input)
    job = backend.wait(job.id, DEADLINE)
    assert job.status.terminal
    return job


def test_heavy_state_loads_once_across_twenty_jobs_in_one_process(make_backend):
    backend = make_backend(workers=1, queue=25, preload=True)
    submitted = [backend.submit(KIND, {"action": "succeed", "payload": str(i)}) for i in range(20)]
    jobs = [backend.wait(job.id, DEADLINE) for job in submitted]
    assert all(job.status == JobStatus.succeeded for job in jobs)
    assert [job.result["echo"] for job in jobs] == [str(i) for i in range(20)]
    assert {job.result["loads"] for job in jobs} == {1}
    pids = {job.result["pid"] for job in jobs}
    assert len(pids) == 1
    assert [w["pid"] for w in backend.workers(KIND)] == list(pids)
    assert sum(bool(job.cold_start) for job in jobs) <= 1  # at most the job that raced the preload


def test_lazy_worker_loads_on_first_job_stays_warm_then_scales_down_when_idle(make_backend):
    backend = make_backend(workers=1, preload=False, scaledown_window=2)
    assert backend.capacity()[KIND].warm is False
    assert backend.workers(KIND) == []  # no process until there is work
    first = run(backend, action="succeed")
    second = run(backend, action="succeed")
    assert first.cold_start is True and second.cold_start is False
    assert first.result["pid"] == second.result["pid"]
    assert second.result["loads"] == 1
    assert backend.capacity()[KIND].warm is True
    # idle past scaledown_window with no lease: the process (and its heavy state) goes away
    eventually(lambda: backend.workers(KIND) == [])
    assert backend.capacity()[KIND].warm is False
    third = run(backend, action="succeed")
    assert third.cold_start is True and third.result["pid"] != first.result["pid"]


def test_warm_lease_preloads_before_the_first_job(make_backend):
    backend = make_backend(workers=2, preload=False)
    lease = backend.warm([KIND], ttl_s=60)
    assert lease.kinds == [KIND] and lease.backend == "inhouse"
    workers_where(backend, KIND, 2)
    assert backend.capacity()[KIND].warm is True
    job = run(backend, action="succeed")
    assert job.status == JobStatus.succeeded and job.cold_start is False


def test_killed_worker_is_respawned_and_serves_the_next_job(make_backend):
    backend = make_backend(workers=1, preload=True)
    before = run(backend, action="succeed")
    old_pid = before.result["pid"]
    os.kill(old_pid, signal.SIGKILL)
    workers = eventually(lambda: [w for w in backend.workers(KIND) if w["pid"] != old_pid and w["loaded"]])
    after = run(backend, action="succeed")
    assert after.status == JobStatus.succeeded
    assert after.result["pid"] == workers[0]["pid"] != old_pid
    assert after.result["loads"] == 1
    assert after.attempts == 1  # the respawn happened before the job, not as a crash retry


def test_killed_busy_worker_fails_over_to_a_retry(make_backend):
    backend = make_backend(workers=1, preload=True)
    job = backend.submit(KIND, {"action": "sleep", "seconds": 30, "steps": 30})
    # Progress comes from the worker, so the job is in its hands. "running" alone is not
    # enough: a worker that dies before the job is sent is replaced within attempt 1.
    running = next(j for j in backend.events(job.id, DEADLINE) if j.progress.done >= 1)
    pid = backend.workers(KIND)[0]["pid"]
    assert backend.workers(KIND)[0]["job_id"] == running.id
    os.kill(pid, signal.SIGKILL)
    retried = next(j for j in backend.events(job.id, DEADLINE) if j.attempts >= 2)
    assert retried.status == JobStatus.running
    backend.cancel(job.id)
    assert backend.wait(job.id, DEADLINE).status == JobStatus.cancelled


def test_server_keeps_answering_while_heavy_state_loads(make_backend, monkeypatch):
    monkeypatch.setenv("DIAGNOSTIC_LOAD_SECONDS", "30")
    backend = make_backend(workers=1, preload=True)
    # The constructor returned while the worker is (about to be) loading for 30 s:
    assert backend.capacity()[KIND].warm is False
    job = backend.submit(KIND, {"action": "succeed"})
    assert backend.poll(job.id).status in (JobStatus.queued, JobStatus.running)  # waiting on the load
    backend.cancel(job.id)
    assert backend.poll(job.id).status == JobStatus.cancelled


def test_heavy_state_that_fails_to_load_fails_jobs_with_its_code(make_backend, monkeypatch):
    monkeypatch.setenv("DIAGNOSTIC_LOAD_FAIL", "1")
    backend = make_backend(workers=1, preload=True)
    job = run(backend, action="succeed")
    assert job.status == JobStatus.failed
    assert job.error.code == "load_failed" and job.error.retryable is False
    assert job.attempts == 1
    assert backend.capacity()[KIND].warm is False
    monkeypatch.delenv("DIAGNOSTIC_LOAD_FAIL")
    assert backend.poll(job.id).status == JobStatus.failed  # the backend itself is fine
