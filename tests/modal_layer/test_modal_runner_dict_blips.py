"""A Dict blip around an attempt's `run:<job_id>` record does not fail a healthy job.

`runner.execute` reads `run:<job_id>` first, to number the attempt, and writes it (attempt,
start, cold start) before it runs the body. Both sat where a failure ended the job:
- a failed write was inside the attempt's error handling and ended the job at once as
  failed `internal`, not retryable: the worker gave up on a job that never ran;
- a failed read was outside every error handling and raised Modal's own
  `ConnectionError` out of the body, which Modal retried blindly and then stored as the
  call's output, which every poll took for "Modal unreachable" until the grace ran out.
The record is what polls read for `running`, but the job's work does not depend on it
(progress writes are best effort for the same reason): now both are best effort, logged,
the attempt counts from 1 when its number cannot be read, and the body runs.

The real runner and watchdog; the capability and the jobs Dict are stood in for.
"""

from __future__ import annotations

import pytest
from modal.exception import ConnectionError as ModalConnectionError
from modal_support import StepsResult, fake_diagnostic
from modal_functions.config import default_path, load_config
from modal_functions.modal_layer import runner


class RunReadFails(dict):
    """A jobs Dict whose `run:` reads fail (Modal unreachable for a moment)."""

    def get(self, key, default=None):
        if str(key).startswith("run:"):
            raise ModalConnectionError("Could not connect to the Modal server.")
        return super().get(key, default)


class RunWriteFails(dict):
    """A jobs Dict whose `run:` writes fail (Modal unreachable for a moment)."""

    def __setitem__(self, key, value):
        if str(key).startswith("run:"):
            raise ConnectionError("modal.Dict write failed")
        super().__setitem__(key, value)


@pytest.fixture
def capability(monkeypatch):
    ran = []

    def run(state, request, ctx):
        ran.append(request.steps)
        ctx.progress(request.steps, request.steps, "steps")
        return StepsResult(steps=request.steps)

    fake_diagnostic(monkeypatch, run)
    yield ran
    runner._STATES.pop("diagnostic", None)


def _execute(jobs):
    return runner.execute({"job_id": "j1", "kind": "diagnostic", "input": {"steps": 3}}, jobs,
                          resource="cpu:0.25", config=load_config(default_path()), min_interval=0.0)


@pytest.mark.parametrize("jobs_dict", [RunReadFails, RunWriteFails])
def test_a_failed_attempt_record_read_or_write_does_not_fail_the_job(capability, jobs_dict):
    jobs = jobs_dict()
    out = _execute(jobs)
    assert out["ok"], out
    assert out["result"] == {"steps": 3} and out["attempt"] == 1
    assert capability == [3]
    assert dict.get(jobs, "progress:j1")["progress"]["done"] == 3  # the rest of the Dict still works


def test_after_a_failed_number_read_the_attempt_is_still_recorded(capability):
    jobs = RunReadFails()
    _execute(jobs)
    assert dict.get(jobs, "run:j1")["attempt"] == 1
