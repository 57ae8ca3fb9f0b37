"""A Dict blip when an attempt reads its number does not turn a healthy job into "Modal unreachable".

`runner.execute` reads `run:<job_id>` first, to number the attempt. That read sat outside
every error handling: a failed read (Modal's Dict unreachable for a moment) raised Modal's
own `ConnectionError` out of the body, which Modal retried blindly and, once out of
retries, stored as the call's output, which every poll then took for "Modal unreachable"
until the grace ran out and the job failed `internal`: a job that never ran. Now the read
is best effort, like the write after it: the attempt counts from 1 and the body runs.

The real runner and watchdog; the capability and the jobs Dict are stood in for.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from modal.exception import ConnectionError as ModalConnectionError
from pydantic import BaseModel

from modal_functions.config import default_path, load_config
from modal_functions.modal_layer import runner


class Request(BaseModel):
    steps: int


class Result(BaseModel):
    steps: int


class RunReadFails(dict):
    """A jobs Dict whose `run:` reads fail (Modal unreachable for a moment)."""

    def get(self, key, default=None):
        if str(key).startswith("run:"):
            raise ModalConnectionError("Could not connect to the Modal server.")
        return super().get(key, default)


@pytest.fixture
def capability(monkeypatch):
    import modal_functions.capabilities as capabilities

    ran = []

    def run(state, request, ctx):
        ran.append(request.steps)
        return Result(steps=request.steps)

    fake = SimpleNamespace(kind="diagnostic", request_model=Request, result_model=Result, load=lambda: None, run=run)
    real = capabilities.get_capability
    monkeypatch.setattr(capabilities, "get_capability", lambda kind: fake if kind == "diagnostic" else real(kind))
    yield ran
    runner._STATES.pop("diagnostic", None)


def test_a_failed_attempt_number_read_does_not_fail_the_job(capability):
    jobs = RunReadFails()
    out = runner.execute({"job_id": "j1", "kind": "diagnostic", "input": {"steps": 3}}, jobs,
                         resource="cpu:0.25", config=load_config(default_path()), min_interval=0.0)
    assert out["ok"], out
    assert out["result"] == {"steps": 3} and out["attempt"] == 1
    assert capability == [3]
    assert dict.get(jobs, "run:j1")["attempt"] == 1  # the write after it still records the attempt
