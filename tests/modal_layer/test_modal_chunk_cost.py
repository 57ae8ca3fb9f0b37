"""A chunked render's `cost` counts its chunk containers too, not only `render_video`'s own.

Each `render_chunk` call reports the seconds its container ran (a failed one as well: a
failed attempt bills like any other, and its retry bills again, once each); the runner
sums them per Modal object into its output (`billed`); the backend prices each object
from its own table (`[functions.render_chunk]` may differ from `render_video`'s) and adds
them to the job's `cost`, as Remotion Lambda's `estimatedPrice` sums every lambda.
"""

from __future__ import annotations

import pickle
import sys
import types
from datetime import datetime, timezone

import pytest

from modal_functions.config import FunctionConfig, default_path, load_config
from modal_functions.contract.jobs import Job
from modal_functions.errors import CapabilityError
from modal_functions.modal_layer import chunks as modal_chunks
from modal_functions.modal_layer.fake_primitives import fake_backend
from test_modal_chunk_map import ended, in_container, render, render_like  # noqa: F401 - fixtures

pytestmark = pytest.mark.filterwarnings("ignore:The render_video function is executing locally")


def chunk_result(call, seconds):
    a, b = call.spec["frameRange"]
    result = {"index": call.index, "video": f"/cache/chunks/{call.index}.ts", "audio": "", "frames": b - a + 1, "seconds": seconds}
    assert call._settle(True, result)
    return result


def test_a_chunk_reports_the_seconds_it_ran_when_it_succeeds_and_when_it_fails(monkeypatch, tmp_path):
    monkeypatch.setenv("RENDER_CHUNK_DIR", str(tmp_path))
    fake = types.ModuleType("fake_chunk_module")
    fake.render_chunk = lambda chunk, out_dir: {"index": chunk["index"], "video": "v", "audio": "a", "frames": 10}
    monkeypatch.setitem(sys.modules, "fake_chunk_module", fake)
    monkeypatch.setattr(modal_chunks, "CHUNK_MODULE", "fake_chunk_module")

    result = modal_chunks.render_one_chunk({"job_id": "j", "index": 0, "frameRange": [0, 9]})
    assert isinstance(result["seconds"], float) and result["seconds"] >= 0

    def boom(chunk, out_dir):
        raise CapabilityError("sidecar_crashed", "render sidecar exited", retryable=True, http_status=500)

    fake.render_chunk = boom
    with pytest.raises(CapabilityError) as caught:
        modal_chunks.render_one_chunk({"job_id": "j", "index": 1, "frameRange": [10, 19]})
    error = caught.value
    assert (error.code, error.retryable, error.http_status) == ("sidecar_crashed", True, 500)
    assert isinstance(error.seconds, float) and error.seconds >= 0
    back = pickle.loads(pickle.dumps(error))  # how Modal hands a remote exception to the caller
    assert (back.code, back.message, back.seconds) == (error.code, error.message, error.seconds)

    fake.render_chunk = lambda chunk, out_dir: 1 / 0  # an uncoded failure bills too
    with pytest.raises(CapabilityError) as caught:
        modal_chunks.render_one_chunk({"job_id": "j", "index": 2, "frameRange": [20, 29]})
    assert caught.value.code == "chunk_failed" and caught.value.seconds >= 0


def test_the_runner_bills_every_chunk_call_once_a_failed_attempt_included(in_container):
    thread, box = render(in_container, "c1")
    calls = in_container.chunks.spawns(3)
    chunk_result(calls[0], 10.0)
    failed = CapabilityError("sidecar_crashed", "render sidecar exited", retryable=True, http_status=500)
    failed.seconds = 4.0
    calls[1].fail(failed)
    again = in_container.chunks.next_spawn()
    chunk_result(calls[2], 11.0)
    chunk_result(again, 12.0)
    out = ended(thread, box)
    assert out["ok"] and out["result"]["frames"] == 30, out
    assert out["billed"] == {"render_chunk": 37.0}


def config_with_chunk_table(**chunk):
    cfg = load_config(default_path())
    functions = dict(cfg.functions)
    if chunk:
        functions["render_chunk"] = FunctionConfig(**chunk)
    else:
        functions.pop("render_chunk", None)
    return cfg.model_copy(update={"functions": functions})


def rate(config, cpu, memory_mib):
    return config.prices.cpu_core * cpu + config.prices.memory_gib * memory_mib / 1024


def finish(config, tmp_path, out):
    backend = fake_backend(tmp_path / "modal", config)
    try:
        now = datetime.now(timezone.utc)
        job = Job.queued("r1", "render_video", {}, None, "modal", now).model_copy(update={"started_at": now})
        return backend._finish(job, {"object": "render_video"}, {"ok": True, "result": {}, "resource": "cpu:8", **out})
    finally:
        backend.close()


def test_the_job_cost_adds_the_chunk_containers_at_their_own_table_price(tmp_path):
    config = config_with_chunk_table(cpu=4.0, memory=4096)
    done = finish(config, tmp_path, {"seconds": 10.0, "billed": {"render_chunk": 30.0}})
    assert done.cost.seconds == pytest.approx(40.0)
    assert done.cost.usd == pytest.approx(10.0 * rate(config, 8.0, 8192) + 30.0 * rate(config, 4.0, 4096))
    assert done.cost.resource == "cpu:8+cpu:4"


def test_without_a_chunk_table_the_chunks_cost_render_videos_price(tmp_path):
    config = config_with_chunk_table()
    done = finish(config, tmp_path, {"seconds": 10.0, "billed": {"render_chunk": 30.0}})
    assert done.cost.seconds == pytest.approx(40.0)
    assert done.cost.usd == pytest.approx(40.0 * rate(config, 8.0, 8192))
    assert done.cost.resource == "cpu:8"


def test_an_output_from_before_billing_costs_its_own_container_only(tmp_path):
    config = load_config(default_path())
    done = finish(config, tmp_path, {"seconds": 10.0})
    assert done.cost.seconds == 10.0 and done.cost.usd == pytest.approx(10.0 * rate(config, 8.0, 8192))
