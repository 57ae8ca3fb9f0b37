"""A Dict blip when an attempt starts does not fail a healthy job for good.

`runner.execute` records the attempt (`run:<job_id>`: attempt, start, cold start) in the
jobs `modal.Dict` before it runs the body. That write sat inside the attempt's error
handling, so a failed write (Modal's Dict unreachable for a moment) ended the job at
once as failed `internal`, not retryable: the worker gave up on a job that never ran.
The record is what polls read for `running`, but the job's work does not depend on it
(progress writes are best effort for the same reason): now a failed write is logged,
the body runs, and the next write of the record (a later attempt) carries it.

The real runner and watchdog; the capability and the jobs Dict are stood in for.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pydantic import BaseModel

from modal_functions.config import default_path, load_config
from modal_functions.modal_layer import runner


class Request(BaseModel):
    steps: int


class Result(BaseModel):
    steps: int


class RunWriteFails(dict):
    """A jobs Dict whose `run:` writes fail (Modal unreachable for a moment)."""

    def __setitem__(self, key, value):
        if str(key).startswith("run:"):
            raise ConnectionError("modal.Dict write failed")
        super().__setitem__(key, value)


@pytest.fixture
def capability(monkeypatch):
    import modal_functions.capabilities as capabilities

    ran = []

    def run(state, request, ctx):
        ran.append(request.steps)
        ctx.progress(request.steps, request.steps, "steps")
        return Result(steps=request.steps)

    fake = SimpleNamespace(kind="diagnostic", request_model=Request, result_model=Result, load=lambda: None, run=run)
    real = capabilities.get_capability
    monkeypatch.setattr(capabilities, "get_capability", lambda kind: fake if kind == "diagnostic" else real(kind))
    yield ran
    runner._STATES.pop("diagnostic", None)


def test_a_failed_attempt_record_write_does_not_fail_the_job(capability):
    jobs = RunWriteFails()
    out = runner.execute({"job_id": "j1", "kind": "diagnostic", "input": {"steps": 3}}, jobs,
                         resource="cpu:0.25", config=load_config(default_path()), min_interval=0.0)
    assert out["ok"], out
    assert out["result"] == {"steps": 3} and out["attempt"] == 1
    assert capability == [3]
    assert jobs["progress:j1"]["progress"]["done"] == 3  # the rest of the Dict still works
