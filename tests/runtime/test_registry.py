"""SQLite registry: idempotency index, restart recovery, one owner, and a failing disk."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

import pytest

from modal_functions.contract.jobs import Job, JobStatus
from modal_functions.errors import CapabilityError
from modal_functions.runtime.registry import JobRegistry, input_digest

T0 = datetime(2026, 11, 23, tzinfo=timezone.utc)


def job(id: str, status: JobStatus = JobStatus.queued, key: str | None = None, **input) -> Job:
    return Job(id=id, kind="diagnostic", status=status, input=input, idempotency_key=key, created_at=T0, updated_at=T0, backend="inhouse")


def test_digest_is_canonical():
    assert input_digest("diagnostic", {"a": 1, "b": [1, 2]}) == input_digest("diagnostic", {"b": [1, 2], "a": 1})
    assert input_digest("diagnostic", {"a": 1}) != input_digest("render_video", {"a": 1})
    assert input_digest("diagnostic", {"s": 1, "t": [2]}) == input_digest("diagnostic", {"s": 1.0, "t": [2.0]})  # same JSON value
    assert input_digest("diagnostic", {"s": 1}) != input_digest("diagnostic", {"s": 1.5})


def test_same_key_same_input_returns_the_first_job(tmp_path):
    reg = JobRegistry(tmp_path / "jobs.sqlite3")
    first, created = reg.create(job("j1", key="k", x=1), input_digest("diagnostic", {"x": 1}))
    again, created_again = reg.create(job("j2", key="k", x=1), input_digest("diagnostic", {"x": 1}))
    assert created and not created_again
    assert again.id == first.id == "j1"
    assert reg.get("j2") is None
    assert reg.find_key("k") == ("j1", input_digest("diagnostic", {"x": 1}))


def test_same_key_other_input_is_a_409(tmp_path):
    reg = JobRegistry(tmp_path / "jobs.sqlite3")
    reg.create(job("j1", key="k", x=1), input_digest("diagnostic", {"x": 1}))
    with pytest.raises(CapabilityError) as e:
        reg.create(job("j2", key="k", x=2), input_digest("diagnostic", {"x": 2}))
    assert e.value.code == "idempotency_conflict" and e.value.http_status == 409


def test_restart_marks_unfinished_jobs_interrupted_and_keeps_finished_ones(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    reg = JobRegistry(path)
    reg.create(job("queued"))
    reg.create(job("running", JobStatus.running))
    done = job("done", JobStatus.succeeded).model_copy(update={"result": {"echo": "ok"}, "finished_at": T0})
    reg.create(done)
    reg.close()

    reopened = JobRegistry(path)
    recovered = reopened.recover(now=T0)
    assert sorted(j.id for j in recovered) == ["queued", "running"]
    for id in ("queued", "running"):
        j = reopened.get(id)
        assert j.status == JobStatus.failed and j.error.code == "interrupted" and j.error.retryable
        assert j.finished_at == T0
    assert reopened.get("done") == done
    assert reopened.recover(now=T0) == []  # idempotent


def test_one_owner_per_registry_and_the_lock_goes_with_its_owner(tmp_path):
    """A second server on the same data dir would mark the first one's running jobs interrupted."""
    import subprocess
    import sys

    from modal_functions.runtime.registry import RegistryInUse

    path = tmp_path / "jobs.sqlite3"
    first = JobRegistry(path)
    with pytest.raises(RegistryInUse):
        JobRegistry(path)
    first.close()
    JobRegistry(path).close()  # free again once closed
    # a process that dies holding it (SIGKILL, no close) does not block the restart
    holder = subprocess.Popen([sys.executable, "-c", f"from modal_functions.runtime.registry import JobRegistry\n"
                               f"r = JobRegistry({str(path)!r})\nprint('open', flush=True)\nimport time\ntime.sleep(600)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(RegistryInUse):
            JobRegistry(path)
    finally:
        holder.kill()
        holder.wait()
    JobRegistry(path).close()


def test_a_finished_job_the_registry_cannot_save_is_still_finished_and_saved_later(make_backend, monkeypatch):
    """A locked or full disk at the end of a job left it `running` forever."""
    from runtime_support import DEADLINE, eventually

    from modal_functions.contract.jobs import JobStatus

    backend = make_backend(workers=1, preload=True)
    real_save, failures = backend.registry.save, []

    def flaky_save(job):
        if job.status.terminal and len(failures) < 3:
            failures.append(job.id)
            raise sqlite3.OperationalError("database is locked")
        return real_save(job)

    monkeypatch.setattr(backend.registry, "save", flaky_save)
    job = backend.submit("diagnostic", {"action": "succeed", "payload": "done"})
    assert backend.wait(job.id, DEADLINE).status == JobStatus.succeeded  # not stuck in running
    assert backend.poll(job.id).result["echo"] == "done"
    eventually(lambda: (saved := backend.registry.get(job.id)) is not None and saved.status == JobStatus.succeeded)
    assert failures  # the first saves did fail
