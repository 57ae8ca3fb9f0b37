"""A render waiting on its `render_chunk.map` stays alive under its own watchdog.

`render_video` runs under `runner.execute` with the `[functions.render_video]`
stall_timeout. While the chunks render on other containers (cold starts included),
the job's own thread only waits on the map: it must heartbeat and report the frames
of the chunks that came back, or a healthy long render is failed as `stalled`.
`render_chunk.map` and the Volume are stood in for; the rest is the real runner.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from pydantic import BaseModel

from modal_functions.config import default_path, load_config
from modal_functions.modal_layer import runner

STALL_S = 0.4
CHUNK_S = 0.5  # each chunk takes longer than the stall timeout


class Request(BaseModel):
    chunks: int


class Result(BaseModel):
    frames: int


class SlowChunks:
    """`render_chunk` with `.map`: yields one result per spec, each after CHUNK_S."""

    def __init__(self):
        self.kwargs = None

    def map(self, specs, **kwargs):
        self.kwargs = kwargs

        def outputs():
            for spec in specs:
                time.sleep(CHUNK_S)
                a, b = spec["frameRange"]
                yield {"index": spec["index"], "video": f"/cache/chunks/{spec['job_id']}/{spec['index']}.ts", "audio": "", "frames": b - a + 1}

        return outputs()


@pytest.fixture
def render_like(monkeypatch):
    import modal_functions.capabilities as capabilities
    import modal_functions.modal_layer.app as modal_app
    from modal_functions.modal_layer.chunks import map_chunks

    chunks = SlowChunks()
    reloads = []
    monkeypatch.setattr(modal_app, "render_chunk", chunks)
    monkeypatch.setattr(modal_app, "cache", SimpleNamespace(reload=lambda: reloads.append(1)))

    def run(state, request, ctx):
        specs = [{"job_id": ctx.job_id, "index": i, "frameRange": [i * 10, i * 10 + 9], "totalFrames": 10 * request.chunks}
                 for i in range(request.chunks)]
        ctx.progress(0, 10 * request.chunks, "frames", f"rendering {request.chunks} chunks")
        results = map_chunks(specs)  # what render.capability does through RemoteChunks.map
        return Result(frames=sum(r["frames"] for r in results))

    fake = SimpleNamespace(kind="render_video", request_model=Request, result_model=Result, load=lambda: None, run=run)
    real = capabilities.get_capability
    monkeypatch.setattr(capabilities, "get_capability", lambda kind: fake if kind == "render_video" else real(kind))
    cfg = load_config(default_path())
    functions = dict(cfg.functions)
    functions["render_video"] = functions["render_video"].model_copy(update={"stall_timeout": STALL_S, "retries": 0})
    yield SimpleNamespace(config=cfg.model_copy(update={"functions": functions}), chunks=chunks, reloads=reloads)
    runner._STATES.pop("render_video", None)


def test_waiting_on_chunks_longer_than_the_stall_timeout_is_not_a_stall(render_like):
    jobs: dict = {}
    out = runner.execute({"job_id": "r1", "kind": "render_video", "input": {"chunks": 3}}, jobs, resource="cpu:8",
                         config=render_like.config, min_interval=0.0)
    assert out["ok"], out
    assert out["result"]["frames"] == 30
    assert render_like.reloads == [1]  # the chunk files are read after a Volume reload
    assert render_like.chunks.kwargs.get("order_outputs") is False  # progress as chunks finish, any order
    progress = jobs[runner.progress_key("r1")]["progress"]
    assert progress["done"] == 30 and progress["unit"] == "frames"
    assert runner.running_context("r1") is None  # registered only while the attempt runs


def test_a_real_stall_is_still_a_stall(render_like, monkeypatch):
    """The heartbeat covers the wait on the map only: a body silent elsewhere still stalls."""
    import modal_functions.capabilities as capabilities

    fake = capabilities.get_capability("render_video")
    monkeypatch.setattr(fake, "run", lambda state, request, ctx: time.sleep(STALL_S * 4) or Result(frames=0))
    import modal_functions.runtime.watchdog as watchdog

    supervise = watchdog.supervise
    monkeypatch.setattr(runner, "_stop_taking_inputs", lambda: None)
    monkeypatch.setattr(watchdog, "supervise", lambda body, dog: supervise(body, dog, kill=lambda: None))  # no child to kill here
    out = runner.execute({"job_id": "r2", "kind": "render_video", "input": {"chunks": 1}}, {}, resource="cpu:8",
                         config=render_like.config, min_interval=0.0)
    assert out["ok"] is False and out["error"]["code"] == "stalled"
