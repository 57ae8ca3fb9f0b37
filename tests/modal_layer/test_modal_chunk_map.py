"""A render fanning out to `render_chunk` containers, through the real runner and `render_video` body.

`render_video` runs under `runner.execute` with the `[functions.render_video]`
stall_timeout. While the chunks render on other containers (cold starts included),
the job's own thread only waits on them: it must heartbeat and report the frames of
the chunks that came back, or a healthy long render is failed as `stalled`.

And it owns those calls: when the attempt ends mid-way (a chunk failed for good, the
job was cancelled, the watchdog's timeout fired while the body thread still waits),
every chunk call still running is cancelled with `terminate_containers=True` BEFORE
the job's chunk dir is dropped from the Volume; a failed chunk is rendered again alone.

`render_chunk` (chunk_call_fakes.py: calls the test finishes by hand), the Volume and
the jobs Dict are stood in for; the runner, the watchdog and the `render_video` body of
the built app are the real ones (`render_video.local()` with `modal.is_local()` False,
i.e. the container path).
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

import modal
import pytest
from pydantic import BaseModel

from chunk_call_fakes import WAIT_S, FakeChunkFunction, in_thread
from modal_functions.config import default_path, load_config
from modal_functions.errors import CapabilityError
from modal_functions.modal_layer import runner
from modal_functions.modal_layer.settings_from_toml import object_kwargs

# `.local()` warns that the Volume is not mounted: the Volume is stood in for here
pytestmark = pytest.mark.filterwarnings("ignore:The render_video function is executing locally")

# The two stall tests wait in real time. The heartbeat beats every STALL_S / 4 while the
# chunks render, so a healthy wait fails only if this process is descheduled for over
# 2.25 s. The tests of chunk ownership (`in_container`) do not turn on stalls: they run
# with a stall timeout no pause of a loaded CI machine reaches, so a pause cannot end
# their attempt between a chunk's failure and its retry.
STALL_S = 3.0
CHUNK_S = 3.5  # the last chunk takes longer than the stall timeout
OWNERSHIP_STALL_S = 60.0


class Request(BaseModel):
    chunks: int


class Result(BaseModel):
    frames: int


@pytest.fixture
def render_like(monkeypatch, tmp_path):
    import modal_functions.capabilities as capabilities
    import modal_functions.modal_layer.app as modal_app
    from modal_functions.render.chunks import set_remote_chunks
    from modal_functions.modal_layer.chunks import map_chunks

    # retries=1: what Modal did for `.map` inputs when render_chunk carried render_video's retries
    chunks = FakeChunkFunction(retries=1)
    jobs: dict = {}
    body_done = threading.Event()
    monkeypatch.setattr(modal_app, "render_chunk", chunks)
    monkeypatch.setattr(modal_app, "cache", SimpleNamespace(reload=lambda: chunks.record("reload"), commit=lambda: chunks.record("commit")))
    monkeypatch.setattr(modal_app, "jobs_dict", lambda: jobs)
    monkeypatch.setenv("RENDER_CHUNK_DIR", str(tmp_path / "chunks"))

    def run(state, request, ctx):
        try:
            (tmp_path / "chunks" / ctx.job_id).mkdir(parents=True, exist_ok=True)  # what the chunks write
            specs = [{"job_id": ctx.job_id, "index": i, "frameRange": [i * 10, i * 10 + 9], "totalFrames": 10 * request.chunks}
                     for i in range(request.chunks)]
            ctx.progress(0, 10 * request.chunks, "frames", f"rendering {request.chunks} chunks")
            results = map_chunks(specs)  # what render.capability does through RemoteChunks.map
            return Result(frames=sum(r["frames"] for r in results))
        finally:
            body_done.set()

    fake = SimpleNamespace(kind="render_video", request_model=Request, result_model=Result, load=lambda: None, run=run)
    real = capabilities.get_capability
    monkeypatch.setattr(capabilities, "get_capability", lambda kind: fake if kind == "render_video" else real(kind))
    cfg = load_config(default_path())
    functions = dict(cfg.functions)
    functions["render_video"] = functions["render_video"].model_copy(update={"stall_timeout": STALL_S, "retries": 0})
    config = cfg.model_copy(update={"functions": functions})
    monkeypatch.setattr(modal_app, "CONFIG", config)
    yield SimpleNamespace(config=config, chunks=chunks, jobs=jobs, body_done=body_done, app=modal_app)
    chunks.release()
    runner._STATES.pop("render_video", None)
    # The container path registers Modal's fan-out process-wide (as in a render_video
    # container); later tests in this process render chunks in-house.
    set_remote_chunks(None)


@pytest.fixture
def in_container(render_like, monkeypatch):
    """`render_video.local()` takes the container path; the watchdog kills no child of pytest."""
    import modal_functions.runtime.watchdog as watchdog

    supervise = watchdog.supervise
    monkeypatch.setattr(modal, "is_local", lambda: False)
    monkeypatch.setattr(runner, "_stop_taking_inputs", lambda: None)
    monkeypatch.setattr(watchdog, "supervise", lambda body, dog: supervise(body, dog, kill=lambda: None))
    fn = render_like.config.functions["render_video"]
    functions = {**render_like.config.functions, "render_video": fn.model_copy(update={"stall_timeout": OWNERSHIP_STALL_S})}
    config = render_like.config.model_copy(update={"functions": functions})
    monkeypatch.setattr(render_like.app, "CONFIG", config)
    render_like.config = config
    import modal_functions.modal_layer.chunks as modal_chunks

    monkeypatch.setattr(modal_chunks, "CHECK_S", 0.1)  # how often the fan-out reads the jobs Dict for a cancel (5 s on Modal)
    return render_like


def render(render_like, job_id, chunks=3):
    return in_thread(render_like.app.render_video.local, {"job_id": job_id, "kind": "render_video", "input": {"chunks": chunks}})


def ended(thread, box):
    thread.join(WAIT_S)
    assert not thread.is_alive(), "render_video did not return"
    assert "error" not in box, box.get("error")
    return box["value"]


def ends_of(log):
    """Cancels and the drop's Volume commit, in the order they happened."""
    return [e[:2] if e[0] == "cancel" else e[:1] for e in log if e[0] in ("cancel", "commit")]


def test_waiting_on_chunks_longer_than_the_stall_timeout_is_not_a_stall(render_like):
    def modal_runs_the_chunks():  # two chunks end at once, the last after CHUNK_S (> STALL_S): a duration, not a synchronisation
        calls = [render_like.chunks.next_spawn() for _ in range(3)]
        calls[0].succeed()
        calls[1].succeed()
        threading.Event().wait(CHUNK_S)
        calls[2].succeed()

    threading.Thread(target=modal_runs_the_chunks, daemon=True).start()
    jobs: dict = {}
    out = runner.execute({"job_id": "r1", "kind": "render_video", "input": {"chunks": 3}}, jobs, resource="cpu:8",
                         config=render_like.config, min_interval=0.0)
    assert out["ok"], out
    assert out["result"]["frames"] == 30
    assert [e for e in render_like.chunks.log if e[0] == "reload"] == [("reload",)]  # chunk files read after a Volume reload
    assert render_like.chunks.spawn_counts() == {0: 1, 1: 1, 2: 1}  # one call per chunk
    assert len({c.spec["fanout"] for c in render_like.chunks.calls}) == 1  # all in this fan-out's own dir
    progress = jobs[runner.progress_key("r1")]["progress"]
    assert progress["done"] == 30 and progress["unit"] == "frames"
    assert runner.running_context("r1") is None  # registered only while the attempt runs


def test_a_real_stall_is_still_a_stall(render_like, monkeypatch):
    """The heartbeat covers the wait on the chunks only: a body silent elsewhere still stalls."""
    import modal_functions.capabilities as capabilities

    fake = capabilities.get_capability("render_video")
    monkeypatch.setattr(fake, "run", lambda state, request, ctx: threading.Event().wait(STALL_S * 4) or Result(frames=0))
    import modal_functions.runtime.watchdog as watchdog

    supervise = watchdog.supervise
    monkeypatch.setattr(runner, "_stop_taking_inputs", lambda: None)
    monkeypatch.setattr(watchdog, "supervise", lambda body, dog: supervise(body, dog, kill=lambda: None))  # no child to kill here
    out = runner.execute({"job_id": "r2", "kind": "render_video", "input": {"chunks": 1}}, {}, resource="cpu:8",
                         config=render_like.config, min_interval=0.0)
    assert out["ok"] is False and out["error"]["code"] == "stalled"


def test_render_chunk_has_no_modal_retries_of_its_own():
    """The fan-out retries a failed chunk alone; Modal retrying it too would run it up to 4 times."""
    config = load_config(default_path())
    assert config.function("render_video").retries >= 1  # render_chunk may not set retries of its own (config.OWN_TABLES)
    assert object_kwargs(config, "render_chunk")["retries"] == 0
    assert object_kwargs(config, "render_video")["retries"] == config.function("render_video").retries


def test_chunks_rendered_in_the_container_path_are_combined_and_dropped(in_container):
    thread, box = render(in_container, "r3")
    calls = in_container.chunks.spawns(3)
    for index in (1, 2, 0):
        calls[index].succeed()
    out = ended(thread, box)
    assert out["ok"] and out["result"]["frames"] == 30, out
    assert ends_of(in_container.chunks.log) == [("commit",)]  # nothing to cancel; the chunk dir dropped


def test_a_chunk_failing_once_is_rendered_again_alone(in_container):
    thread, box = render(in_container, "r4")
    calls = in_container.chunks.spawns(3)
    calls[0].succeed()
    calls[1].fail(CapabilityError("sidecar_crashed", "render sidecar exited", retryable=True, http_status=500))
    again = in_container.chunks.next_spawn()
    assert (again.index, again.number) == (1, 2)
    calls[2].succeed()
    again.succeed()
    out = ended(thread, box)
    assert out["ok"] and out["result"]["frames"] == 30, out
    assert in_container.chunks.spawn_counts() == {0: 1, 1: 2, 2: 1}  # the others never ran again
    assert in_container.chunks.cancelled() == {}


def test_a_chunk_failing_for_good_cancels_the_others_before_the_chunk_dir_is_dropped(in_container):
    thread, box = render(in_container, "r5", chunks=4)
    calls = in_container.chunks.spawns(4)
    calls[0].succeed()
    calls[1].fail(CapabilityError("render_failed", "render failed: bad frame", http_status=500))
    in_container.chunks.next_spawn().fail(CapabilityError("render_failed", "render failed: bad frame", http_status=500))
    out = ended(thread, box)
    assert out["ok"] is False and out["error"]["code"] == "render_failed", out
    assert in_container.chunks.cancelled() == {2: True, 3: True}  # terminate_containers=True
    assert ends_of(in_container.chunks.log) == [("cancel", 2), ("cancel", 3), ("commit",)]
    assert out["error"]["message"].startswith("chunk 2/4 failed after 2 tries")  # which chunk, how often


def test_the_job_cancelled_mid_way_cancels_every_chunk_call(in_container):
    thread, box = render(in_container, "r6")
    calls = in_container.chunks.spawns(3)
    calls[2].succeed()
    # what ModalBackend.cancel writes before it cancels the render_video call
    in_container.jobs["job:r6"] = {"job": {"id": "r6", "status": "cancelled"}}
    out = ended(thread, box)
    assert out["ok"] is False and out["error"]["code"] == "cancelled", out
    assert in_container.chunks.cancelled() == {0: True, 1: True}
    assert ends_of(in_container.chunks.log) == [("cancel", 0), ("cancel", 1), ("commit",)]


def test_an_attempt_timing_out_mid_way_cancels_every_chunk_call_before_the_drop(in_container, monkeypatch):
    """The watchdog fails the attempt while its body thread still waits on chunks: nothing may keep running."""
    fn = in_container.config.functions["render_video"]
    functions = {**in_container.config.functions, "render_video": fn.model_copy(update={"timeout": 6})}
    monkeypatch.setattr(in_container.app, "CONFIG", in_container.config.model_copy(update={"functions": functions}))
    thread, box = render(in_container, "r7")
    calls = in_container.chunks.spawns(3)
    calls[0].succeed()
    # the watchdog's hard limit (5.7 s: chunk 0 ends first unless this process is descheduled for seconds) ends the attempt
    out = ended(thread, box)
    assert out["ok"] is False and out["error"]["code"] == "timeout", out
    assert in_container.chunks.cancelled() == {1: True, 2: True}
    assert ends_of(in_container.chunks.log) == [("cancel", 1), ("cancel", 2), ("commit",)]
    assert in_container.body_done.wait(WAIT_S)  # the abandoned body thread stopped waiting too
    assert in_container.chunks.no_more_spawns()  # and started nothing after the attempt ended
