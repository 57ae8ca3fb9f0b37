"""Every job's temp dir is removed on every path: success, failure, retry, crash, stall, timeout, cancel."""

from __future__ import annotations

import pytest
from runtime_support import DEADLINE

from modal_functions.config import load_config
from modal_functions.contract.jobs import JobStatus
from modal_functions.runtime.inhouse import InHouseBackend
from modal_functions.runtime.testing import write_config
from modal_functions.settings import Settings

KIND = "diagnostic"


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    """One backend for the module: every path below must leave the pool clean for the next."""
    root = tmp_path_factory.mktemp("tempdirs")
    path = write_config(
        root / "modal.toml",
        functions={"diagnostic": {"timeout": 5, "stall_timeout": 3.0, "retries": 1}},  # above a loaded machine's pauses
        inhouse={"diagnostic": {"workers": 2, "queue": 8, "preload": True}},
    )
    backend = InHouseBackend(load_config(path), Settings(_env_file=None, CANVASCAST_DATA_DIR=str(root / "data")), kinds=[KIND])
    yield backend
    backend.close()


@pytest.mark.parametrize(
    "input, status, code",
    [
        ({"action": "succeed"}, JobStatus.succeeded, None),
        ({"action": "fail"}, JobStatus.failed, "diagnostic_failure"),
        ({"action": "fail_transient", "transient_failures": 1}, JobStatus.succeeded, None),
        ({"action": "crash"}, JobStatus.failed, "worker_crashed"),
        ({"action": "stall", "seconds": 60}, JobStatus.failed, "stalled"),
        ({"action": "sleep", "seconds": 60, "steps": 60}, JobStatus.failed, "timeout"),
    ],
    ids=["success", "failure", "retry", "crash", "stall", "timeout"],
)
def test_temp_dir_removed_after(backend, input, status, code):
    job = backend.wait(backend.submit(KIND, {**input, "payload": "x" * 100}).id, DEADLINE)
    assert job.status == status
    assert (job.error.code if job.error else None) == code
    assert backend.tempdirs.live() == []


def test_temp_dir_exists_while_running_and_is_removed_on_cancel(backend):
    job = backend.submit(KIND, {"action": "sleep", "seconds": 60, "steps": 240, "payload": "in progress"})
    # the job writes its payload before its first progress step
    next(j for j in backend.events(job.id, DEADLINE) if j.status == JobStatus.running and j.progress.done >= 1)
    live = backend.tempdirs.live()
    assert len(live) == 1 and live[0].name.startswith(job.id)
    assert (live[0] / "payload.txt").read_text() == "in progress"
    assert backend.cancel(job.id).status == JobStatus.cancelled
    assert backend.tempdirs.live() == []


def test_a_killed_workers_own_dirs_go_with_it(backend):
    """Out-of-job dirs a worker owns (the render sidecar's serve dir and browser profile) are
    removed when the parent kills it mid-job, not left for some later sweep."""
    from modal_functions.runtime import proctmp
    from modal_functions.runtime.testing import eventually

    job = backend.submit(KIND, {"action": "sleep", "seconds": 60, "steps": 240})
    next(j for j in backend.events(job.id, DEADLINE) if j.status == JobStatus.running)
    pid = next(w["pid"] for w in backend.workers(KIND) if w["job_id"] == job.id)
    owned = proctmp.root() / f"{pid}-serve-test"  # named as proctmp.private_dir names it in that worker
    owned.mkdir(parents=True)
    (owned / "scene.png").write_bytes(b"staged")
    assert backend.cancel(job.id).status == JobStatus.cancelled  # the worker is killed mid-job
    eventually(lambda: not owned.exists())


def test_leftovers_of_a_dead_server_are_swept_at_start(make_backend, tmp_path):
    leftover = tmp_path / "data" / "tmp" / "jobs" / "job_dead-1"
    leftover.mkdir(parents=True)
    (leftover / "big.bin").write_bytes(b"\0" * 1024)
    backend = make_backend()
    assert backend.tempdirs.live() == []
