"""A failed Modal job has a `cost`, as in-house (`InHouseBackend._record_finish`): its attempt ran and billed.

The runner's failure output carries `seconds`, `resource` and `billed` like its success output,
the backend prices a failed output that carries them as it prices a result (`ModalBackend._cost`),
and an attempt raised for Modal's retry leaves its seconds (and its chunk calls') in the jobs Dict
(`spent:<id>`) for the next attempt to carry on. A failure the backend made up itself, with no
runner output (a crashed container, a lost call, the sweep's timeout), has no cost: nothing says
how long it ran.
"""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from modal_support import StepsResult, diagnostic_config, run_attempt
from modal_functions.config import default_path, load_config
from modal_functions.contract.jobs import Job, JobStatus
from modal_functions.errors import CapabilityError
from modal_functions.modal_layer import runner
from modal_functions.modal_layer.backend import _failure
from modal_functions.modal_layer.fake_primitives import fake_backend


class Clock:
    """The runner's wall clock, moved by the capability's body (no real durations in a test)."""

    def __init__(self):
        self.now = 1_000.0

    def time(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(runner, "time", SimpleNamespace(time=clock.time))
    return clock



def attempt(jobs, config):
    return run_attempt(jobs, config, "f1", 1)


def runs_then(clock, seconds, chunk_seconds, error):
    def run(ctx):
        clock.now += seconds
        runner.bill("f1", "render_chunk", chunk_seconds)
        if error is None:
            return StepsResult(steps=1)
        raise error

    return run


@pytest.mark.parametrize("error, code", [
    (CapabilityError("bad_input", "the input was refused", retryable=False), "bad_input"),
    (ZeroDivisionError("a bug"), "internal"),
    (CapabilityError("transient", "a blip, no attempts left", retryable=True), "transient"),
])
def test_a_failed_attempt_reports_the_seconds_it_ran(scripted_diagnostic, clock, error, code):
    scripted_diagnostic["run"] = runs_then(clock, 30.0, 4.0, error)
    out = attempt({}, diagnostic_config())
    assert out["ok"] is False and out["error"]["code"] == code
    assert out["seconds"] == 30.0 and out["resource"] == "cpu:0.25" and out["billed"] == {"render_chunk": 4.0}


def test_a_retried_attempts_seconds_are_carried_to_the_jobs_output(scripted_diagnostic, clock):
    jobs: dict = {}
    config = diagnostic_config(retries=1)
    scripted_diagnostic["run"] = runs_then(clock, 30.0, 4.0, CapabilityError("transient", "a blip", retryable=True))
    with pytest.raises(CapabilityError):  # raised for Modal's retry policy
        attempt(jobs, config)
    scripted_diagnostic["run"] = runs_then(clock, 12.0, 5.0, None)
    out = attempt(jobs, config)
    assert out["ok"] and out["attempt"] == 2
    assert out["seconds"] == 42.0 and out["billed"] == {"render_chunk": 9.0}


def test_a_first_attempt_does_not_carry_a_stale_entry(scripted_diagnostic, clock):
    """An entry a hand-off's probe left (it is not an attempt) is not the job's own spending."""
    jobs: dict = {runner.spent_key("f1"): {"seconds": 99.0, "billed": {"render_chunk": 99.0}}}
    scripted_diagnostic["run"] = runs_then(clock, 12.0, 5.0, None)
    out = attempt(jobs, diagnostic_config())
    assert out["seconds"] == 12.0 and out["billed"] == {"render_chunk": 5.0}


def finish(tmp_path, out):
    config = load_config(default_path())
    backend = fake_backend(tmp_path / "modal", config)
    try:
        now = datetime.now(timezone.utc)
        job = Job.queued("f1", "render_video", {}, None, "modal", now).model_copy(update={"started_at": now})
        return config, backend._finish(job, {"object": "render_video"}, out)
    finally:
        backend.close()


def test_a_failed_job_is_priced_like_a_succeeded_one(tmp_path):
    error = {"code": "render_failed", "message": "the sidecar gave up", "retryable": False}
    config, failed = finish(tmp_path, {"ok": False, "error": error, "seconds": 10.0, "resource": "cpu:8", "billed": {"render_chunk": 30.0}})
    _, succeeded = finish(tmp_path, {"ok": True, "result": {}, "seconds": 10.0, "resource": "cpu:8", "billed": {"render_chunk": 30.0}})
    assert failed.status == JobStatus.failed and failed.error.code == "render_failed"
    assert failed.cost is not None and failed.cost == succeeded.cost
    assert failed.cost.seconds == pytest.approx(40.0) and failed.cost.usd > 0


def test_a_failure_without_runner_output_has_no_cost(tmp_path):
    _, crashed = finish(tmp_path, _failure("worker_crashed", "the Modal container failed", retryable=True))
    assert crashed.status == JobStatus.failed and crashed.cost is None


def test_through_the_backend_a_failed_job_has_a_cost_and_a_crashed_one_none(backend):
    """End to end on the fake primitives (each attempt in its own process, as in a container)."""
    failed = backend.wait(backend.submit("diagnostic", {"action": "fail"}).id, 30)
    assert failed.status == JobStatus.failed and failed.error.code != "worker_crashed"
    assert failed.cost is not None and failed.cost.resource == "cpu:0.25" and failed.cost.usd >= 0
    crashed = backend.wait(backend.submit("diagnostic", {"action": "crash"}).id, 30)
    assert crashed.status == JobStatus.failed and crashed.error.code == "worker_crashed"
    assert crashed.cost is None  # no runner output: nothing says how long it ran
