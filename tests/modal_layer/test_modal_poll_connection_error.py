"""A poll that cannot reach Modal leaves the job as it was; it does not fail it.

`FunctionCall.get` raises `modal.exception.ConnectionError` (or `ServiceError`, gRPC
UNAVAILABLE) when Modal's client gives up on reaching the server after its own few
retries. The poll counted any such error as the call's outcome: a job still running was
written back as failed `internal` (not retryable), for good, its admission slot freed
while its call kept running, and its result, when it came, was never read.

On the fake primitives; the error is injected into the call lookup, no sleeps.
"""

from __future__ import annotations

import pytest
from modal.exception import ConnectionError as ModalConnectionError
from modal.exception import ServiceError

from modal_functions.config import default_path, load_config
from modal_functions.contract.jobs import JobStatus
from modal_functions.modal_layer.backend import job_key
from modal_functions.modal_layer.fake_primitives import fake_backend


@pytest.fixture
def backend(tmp_path):
    cfg = load_config(default_path())
    functions = dict(cfg.functions)
    functions["diagnostic"] = functions["diagnostic"].model_copy(update={"stall_timeout": 60.0, "retries": 0, "timeout": 60})
    b = fake_backend(tmp_path / "modal", cfg.model_copy(update={"functions": functions}))
    yield b
    b.close()


class Unreachable:
    def __init__(self, error):
        self.error = error

    def get(self, timeout=None):
        raise self.error


@pytest.mark.parametrize("error", [ModalConnectionError("[Errno 104] Connection reset by peer"), ServiceError("unavailable")])
def test_a_poll_that_cannot_reach_modal_keeps_the_job_in_flight(backend, monkeypatch, error):
    job = backend.submit("diagnostic", {"action": "succeed", "payload": "later"})
    call = backend.p.function_call(backend.p.jobs[job_key(job.id)]["call_id"])
    real_lookup = backend.p.function_call
    monkeypatch.setattr(backend.p, "function_call", lambda call_id: Unreachable(error))

    seen = backend.poll(job.id)
    assert not seen.status.terminal, seen.error
    assert backend.sweep("diagnostic") == 1 and backend._in_flight("diagnostic") == [job.id]

    monkeypatch.setattr(backend.p, "function_call", real_lookup)  # Modal is back
    assert call.join(30)
    done = backend.poll(job.id)
    assert done.status == JobStatus.succeeded and done.result["echo"] == "later"
