"""A handed-off job's `cost` counts the probe's container as well as the final object's run.

An unsized transcribe job runs first on the CPU twin (`TranscriberCPU`), which measures the
audio and hands long ones to the GPU class (`Transcriber`). That probe's container ran and
billed (the audio fetched and measured), but the job's cost priced only the GPU run. Now the
probe's output says how long it ran (`seconds`, `resource`), the hand-off keeps it in the
job's record (`handoff_billed`, per Modal object) and the backend prices it at the probe
object's own table with the rest (`ModalBackend._cost`): for a succeeded job, a failed one
with runner output, and a hand-off Modal refused past its grace (the probe was all that ran).
A failure with no runner output of the final object (a crashed container) stays without a
cost, as before: nothing says how long that one ran.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from modal_support import diagnostic_config
from modal_functions.config import default_path, load_config
from modal_functions.contract.jobs import JobStatus
from modal_functions.errors import CapabilityError
from modal_functions.modal_layer import runner
from modal_functions.modal_layer.backend import HANDOFF_GRACE_S, ModalBackend, _object_usd, job_key
from modal_functions.modal_layer.fake_primitives import FakePrimitives
from modal_functions.modal_layer.settings_from_toml import object_kwargs

PROBE_S = 30.0
GPU_S = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now


def test_the_probe_reports_the_seconds_it_ran(scripted_diagnostic, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(runner, "time", SimpleNamespace(time=clock.time))

    def measures_long(request, ctx):
        clock.now += PROBE_S  # fetching and measuring the audio
        return "Transcriber"

    out = runner.execute({"job_id": "p1", "kind": "diagnostic", "input": {"steps": 1}}, {}, resource="cpu:4", state=object(),
                         cold_start=False, config=diagnostic_config(), min_interval=0, handoff=measures_long)
    assert out["handoff"] == "Transcriber" and out["ok"] is False
    assert out["seconds"] == PROBE_S and out["resource"] == "cpu:4"


def _probe(job):
    if job.get("sized"):
        raise AssertionError("the probe is not run again once sized")
    return {"ok": False, "handoff": "Transcriber", "seconds": PROBE_S, "resource": "cpu:4", "billed": {}}


def _gpu_ok(job):
    return {"ok": True, "result": {"on": "gpu"}, "seconds": GPU_S, "resource": "A10G", "billed": {}, "attempt": 1}


def _gpu_failed(job):
    error = {"code": "transcribe_failed", "message": "the decoder gave up", "retryable": False}
    return {"ok": False, "error": error, "seconds": GPU_S, "resource": "A10G", "billed": {}, "attempt": 1}


@pytest.fixture
def make_backend(tmp_path):
    made = []

    def make(gpu, clock=None):
        config = load_config(default_path())
        p = FakePrimitives(tmp_path / f"modal{len(made)}", {"TranscriberCPU": (_probe, 0), "Transcriber": (gpu, 0)})
        backend = ModalBackend(config, p, wait_slice=0.2, **({"clock": clock} if clock else {}))
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


def _priced(config, seconds_by_object):
    return sum(_object_usd(config, object_kwargs(config, name), s) for name, s in seconds_by_object.items())


@pytest.mark.parametrize("gpu, status", [(_gpu_ok, JobStatus.succeeded), (_gpu_failed, JobStatus.failed)])
def test_a_handed_off_job_costs_its_probe_and_its_run(make_backend, gpu, status):
    backend = make_backend(gpu)
    job = backend.submit("transcribe_audio", {"audio": "https://example.com/long.wav"})
    done = backend.wait(job.id, 30)
    assert done.status == status, done
    assert [name for name, _ in backend.p.spawned] == ["TranscriberCPU", "Transcriber"]
    config = backend.config
    cpu = object_kwargs(config, "TranscriberCPU")["cpu"]
    assert done.cost is not None
    assert done.cost.seconds == pytest.approx(PROBE_S + GPU_S)
    assert done.cost.usd == pytest.approx(_priced(config, {"Transcriber": GPU_S, "TranscriberCPU": PROBE_S}), rel=1e-6)
    assert done.cost.resource == f"A10G+cpu:{cpu:g}"  # the final object's resource first


def test_a_hand_off_refused_past_its_grace_costs_the_probe(make_backend):
    clock = Clock()
    backend = make_backend(_gpu_ok, clock)
    job = backend.submit("transcribe_audio", {"audio": "https://example.com/long.wav"})
    assert backend.p.function_call(backend.p.jobs[job_key(job.id)]["call_id"]).join(30)

    def refused(*args):
        raise ConnectionError("Modal refused the spawn")

    backend.p.function("Transcriber").spawn = refused
    with pytest.raises(CapabilityError):  # refused within the grace: ask again later
        backend.poll(job.id)
    clock.now += HANDOFF_GRACE_S + 1
    ended = backend.poll(job.id)
    assert ended.status == JobStatus.failed and ended.error.code == "modal_unavailable"
    assert ended.cost is not None and ended.cost.seconds == pytest.approx(PROBE_S)
    assert ended.cost.usd == pytest.approx(_priced(backend.config, {"TranscriberCPU": PROBE_S}), rel=1e-6)


def test_a_crashed_run_after_a_hand_off_still_has_no_cost(make_backend):
    def crashed(job):
        raise SystemExit(3)  # the container dies: no runner output

    backend = make_backend(crashed)
    done = backend.wait(backend.submit("transcribe_audio", {"audio": "https://example.com/long.wav"}).id, 30)
    assert done.status == JobStatus.failed and done.cost is None
