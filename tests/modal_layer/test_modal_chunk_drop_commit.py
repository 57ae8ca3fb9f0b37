"""A failed Volume commit while dropping a render's chunks does not fail the render.

When a `render_video` attempt ends, `owning_chunks` removes the job's chunk dir and
commits the Volume. The reload before it was best effort, the commit was not: a commit
that failed (Modal unreachable for a moment) left the attempt with the commit's error,
so a render that had finished was reported failed (or run again by Modal's retry), and
a render that failed with its own coded error was reported with the commit's instead.
The drop is cleanup; the hourly `sweep_chunks` is its backstop.

The Volume is a real directory (`committed`) and the container's mount another (`view`).
"""

from __future__ import annotations

import pytest

from modal_functions.errors import CapabilityError
from modal_functions.modal_layer.chunks import owning_chunks

from test_modal_chunk_drop_unseen import ContainerVolume, a_chunk_container_committed


class CommitFails(ContainerVolume):
    def commit(self) -> None:
        self.calls.append("commit")
        raise ConnectionError("Volume commit failed")


@pytest.fixture
def volume(tmp_path, monkeypatch):
    vol = CommitFails(tmp_path / "render_video-mount", tmp_path / "volume")
    monkeypatch.setenv("RENDER_CHUNK_DIR", str(vol.view / "chunks"))
    return vol


def test_a_finished_render_stays_finished_when_the_drop_cannot_commit(volume):
    a_chunk_container_committed(volume, "job-done")
    with owning_chunks("job-done", volume=volume, settle_s=0):
        result = {"video": "renders/job-done.mp4"}
    assert result == {"video": "renders/job-done.mp4"}
    assert volume.calls == ["reload", "commit"]
    assert not (volume.view / "chunks" / "job-done").exists()  # removed here; committed by a later drop or the sweep


def test_a_failed_render_keeps_its_own_error_when_the_drop_cannot_commit(volume):
    a_chunk_container_committed(volume, "job-failed")
    with pytest.raises(CapabilityError) as raised:
        with owning_chunks("job-failed", volume=volume, settle_s=0):
            raise CapabilityError("render_failed", "chunk 1/2 failed after 2 tries: boom", http_status=500)
    assert raised.value.code == "render_failed"
