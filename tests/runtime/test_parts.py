"""Parts: a job's pieces on the idle workers of its own pool (runtime/parts.py), through real worker processes."""

from __future__ import annotations

import os
import signal

from runtime_support import DEADLINE, eventually

from modal_functions.contract.jobs import JobStatus
from modal_functions.runtime.testing import workers_where

KIND = "diagnostic"


def warm(backend, workers: int) -> list[int]:
    return [w["pid"] for w in workers_where(backend, KIND, workers)]


def test_pieces_run_on_the_pools_idle_workers(make_backend):
    backend = make_backend(workers=2, preload=True)
    pids = warm(backend, 2)
    job = backend.wait(backend.submit(KIND, {"action": "fan_out", "pieces": 2, "seconds": 1.0}).id, DEADLINE)
    assert job.status == JobStatus.succeeded, job.error
    own = job.result["pid"]
    assert job.result["piece_pids"][0] == own  # the job runs the first piece itself
    assert job.result["piece_pids"][1] != own and job.result["piece_pids"][1] in pids  # the idle worker ran the other
    assert (job.progress.done, job.progress.total, job.progress.unit) == (2, 2, "pieces")
    assert backend.capacity()[KIND].busy == 0
    assert backend.tempdirs.live() == []


def test_without_an_idle_worker_the_job_runs_every_piece_itself(make_backend):
    backend = make_backend(workers=1, preload=True)
    job = backend.wait(backend.submit(KIND, {"action": "fan_out", "pieces": 3, "seconds": 0.2}).id, DEADLINE)
    assert job.status == JobStatus.succeeded, job.error  # parts nobody started are taken back: no deadlock
    assert job.result["piece_pids"] == [job.result["pid"]] * 3
    assert backend.capacity()[KIND].queued == 0


def test_a_piece_that_fails_on_another_worker_is_rerun_by_the_job(make_backend):
    backend = make_backend(workers=2, preload=True)
    warm(backend, 2)
    job = backend.wait(backend.submit(KIND, {"action": "fan_out", "pieces": 2, "seconds": 1.0, "fail_elsewhere": True}).id, DEADLINE)
    assert job.status == JobStatus.succeeded, job.error
    assert job.result["piece_pids"] == [job.result["pid"]] * 2
    assert job.attempts == 1  # the piece was retried alone, not the job


def with_a_part_running(make_backend, seconds: float):
    """A 2-worker pool running a 2-piece job: returns (backend, job, the worker running its part)."""
    backend = make_backend(workers=2, preload=True)
    warm(backend, 2)
    job = backend.submit(KIND, {"action": "fan_out", "pieces": 2, "seconds": seconds})
    busy = workers_where(backend, KIND, 2, lambda w: w["job_id"])
    part = next(w for w in busy if w["job_id"] != job.id)
    assert part["job_id"].startswith(f"{job.id}:part-")
    return backend, job, part


def test_cancelling_the_job_cancels_the_part_running_elsewhere(make_backend):
    backend, job, part = with_a_part_running(make_backend, 60.0)
    backend.cancel(job.id)
    assert backend.wait(job.id, DEADLINE).status == JobStatus.cancelled
    eventually(lambda: backend.capacity()[KIND].busy == 0)
    eventually(lambda: part["pid"] not in [w["pid"] for w in backend.workers(KIND)])  # its worker was stopped
    eventually(lambda: backend.tempdirs.live() == [])
    after = backend.wait(backend.submit(KIND, {"action": "succeed"}).id, DEADLINE)
    assert after.status == JobStatus.succeeded


def test_a_part_whose_worker_dies_is_retried_and_the_job_never_notices(make_backend):
    backend, job, part = with_a_part_running(make_backend, 2.0)
    os.kill(part["pid"], signal.SIGKILL)
    job = backend.wait(job.id, DEADLINE)
    assert job.status == JobStatus.succeeded, job.error
    assert job.attempts == 1
    assert part["pid"] not in job.result["piece_pids"]  # the piece ran again: on the respawned worker, or on the job's


def test_after_listen_none_no_update_of_the_finished_job_is_still_being_delivered():
    """A part update arriving as the job ends must not send progress into the worker's next job:
    `listen(None)` waits for a delivery in progress."""
    import threading

    from modal_functions.runtime.parts import PartsClient

    parts = PartsClient(send=lambda message: None)
    inside, release, delivered = threading.Event(), threading.Event(), []

    def slow_listener(part_id, status):
        inside.set()
        release.wait(DEADLINE)
        delivered.append(part_id)

    parts.listen(slow_listener)
    reader = threading.Thread(target=parts.deliver, args=(("part_update", "job:part-1-1", {"state": "running", "done": 1.0}),))
    reader.start()
    assert inside.wait(DEADLINE)
    unhooked = threading.Event()
    closer = threading.Thread(target=lambda: (parts.listen(None), unhooked.set()))
    closer.start()
    assert not unhooked.wait(0.2), "listen(None) returned while the old listener was still running"
    release.set()
    assert unhooked.wait(DEADLINE) and delivered == ["job:part-1-1"]
    reader.join(DEADLINE)
    closer.join(DEADLINE)


class _FailingElsewhere:
    """A PartsClient stand-in: every part it is given has already failed on another worker."""

    def listen(self, listener):
        pass

    def submit(self, specs):
        return [f"part-{i}" for i in range(len(specs))]

    def status(self, part_id):
        from modal_functions.runtime.parts import PartStatus

        return PartStatus(state="failed", error={"code": "render_failed", "message": "boom"})

    def take(self, part_id):
        return False

    def wait(self, timeout):
        pass


def test_a_piece_runs_at_most_twice_as_on_modal():
    """Once elsewhere and once more here for a part; twice here for a piece the job runs itself."""
    import pytest

    from modal_functions.errors import CapabilityError
    from modal_functions.runtime.parts import fan_out

    runs: list[int] = []

    def run_here(index, spec, report):
        runs.append(index)
        if spec.get("fail"):
            raise CapabilityError("render_failed", f"piece {index} failed")
        return {"index": index}

    with pytest.raises(CapabilityError):
        fan_out(_FailingElsewhere(), [{}, {"fail": True}], run_here)
    assert runs == [0, 1], "the part that failed elsewhere ran here once, not twice"

    runs.clear()
    with pytest.raises(CapabilityError):
        fan_out(None, [{"fail": True}], run_here)
    assert runs == [0, 0], "a piece first run here is retried once"
