"""A render whose job already ended from outside stops fanning out and cancels its chunks.

A `render_video` call can outlive its job: the API container that spawned it died before
storing the call id, so 120 s later a poll settles the job as failed `interrupted` (the
worker submits it again) and nobody knows the call to cancel. The call's fan-out reads
the job's record every heartbeat to stop once the job is cancelled, but it only stopped
for `cancelled`: for a record that says `failed` it kept every chunk container (8 cores
each) rendering a video nobody would read, for up to the render's timeout. Any ended
job now stops it, as a cancel does.

The same stand-ins as test_modal_chunk_map.py: the real runner, watchdog and
`render_video` body; `render_chunk`, the Volume and the jobs Dict stood in for.
"""

from __future__ import annotations

import pytest

from test_modal_chunk_map import ended, ends_of, in_container, render, render_like  # noqa: F401 - fixtures

pytestmark = pytest.mark.filterwarnings("ignore:The render_video function is executing locally")


@pytest.mark.parametrize("status", ["failed", "succeeded"])
def test_a_job_ended_from_outside_stops_its_orphan_fan_out(in_container, status):
    thread, box = render(in_container, "r-orphan")
    calls = in_container.chunks.spawns(3)
    calls[0].succeed()
    # what ModalBackend writes when it settles a job whose submit was lost (or any ending it saw)
    in_container.jobs["job:r-orphan"] = {"job": {"id": "r-orphan", "status": status}, "call_id": None}
    out = ended(thread, box)
    assert out["ok"] is False and out["error"]["code"] == "cancelled", out
    assert in_container.chunks.cancelled() == {1: True, 2: True}
    assert ends_of(in_container.chunks.log) == [("cancel", 1), ("cancel", 2), ("commit",)]


def test_a_running_job_keeps_rendering(in_container):
    in_container.jobs["job:r-live"] = {"job": {"id": "r-live", "status": "running"}, "call_id": "fc-1"}
    thread, box = render(in_container, "r-live")
    for call in in_container.chunks.spawns(3).values():
        call.succeed()
    out = ended(thread, box)
    assert out["ok"] is True, out
