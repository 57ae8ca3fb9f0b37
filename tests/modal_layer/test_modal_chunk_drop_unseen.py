"""The chunk dir leaves the Volume even when the `render_video` container never saw it.

A container sees a Modal Volume as it was at its start or its last `reload()`: the chunk
files that `render_chunk` containers commit become visible in `render_video` only after
one. `map_chunks` reloads once every chunk came back; a fan-out that failed for good or
was cancelled never gets there, so the drop at the end of the attempt looked at a view
without the job's chunk dir, removed nothing, and every committed chunk stayed on the
Volume until the hourly sweep.

The Volume is a real directory (`committed`) and the container's mount another
(`view`), synced only by `reload()` and `commit()`, as Modal does.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from modal_functions.errors import CapabilityError
from modal_functions.modal_layer.chunks import owning_chunks


class ContainerVolume:
    """One container's mount of a Volume: `view` changes only on reload, `committed` only on commit."""

    def __init__(self, view: Path, committed: Path, *, reload_error: Exception | None = None):
        self.view, self.committed, self.reload_error = view, committed, reload_error
        self.view.mkdir(parents=True, exist_ok=True)
        self.committed.mkdir(parents=True, exist_ok=True)
        self.calls: list[str] = []

    @staticmethod
    def _mirror(src: Path, dst: Path) -> None:
        shutil.rmtree(dst)
        shutil.copytree(src, dst)

    def reload(self) -> None:
        self.calls.append("reload")
        if self.reload_error is not None:
            raise self.reload_error
        self._mirror(self.committed, self.view)

    def commit(self) -> None:
        self.calls.append("commit")
        self._mirror(self.view, self.committed)


def a_chunk_container_committed(volume: ContainerVolume, job_id: str) -> Path:
    """What `render_one_chunk` leaves on the Volume: its chunk file, committed from its own container."""
    done = volume.committed / "chunks" / job_id / "fanout1"
    done.mkdir(parents=True)
    (done / "chunk-0000.ts").write_bytes(b"\x47" * 188)
    return volume.committed / "chunks" / job_id


@pytest.fixture
def volume(tmp_path, monkeypatch):
    vol = ContainerVolume(tmp_path / "render_video-mount", tmp_path / "volume")
    monkeypatch.setenv("RENDER_CHUNK_DIR", str(vol.view / "chunks"))
    return vol


def test_a_failed_fan_out_drops_the_chunks_other_containers_committed(volume):
    on_volume = a_chunk_container_committed(volume, "job-failed")

    with pytest.raises(CapabilityError) as raised:
        with owning_chunks("job-failed", volume=volume, settle_s=0):
            # the fan-out ended before its reload: chunk 2 failed for good
            raise CapabilityError("render_failed", "chunk 2/2 failed after 2 tries: boom", http_status=500)

    assert raised.value.code == "render_failed"
    assert not on_volume.exists(), "the job's committed chunk files were left on the Volume"
    assert volume.calls == ["reload", "commit"]


def test_a_reload_that_fails_keeps_the_attempts_own_error(tmp_path, monkeypatch):
    volume = ContainerVolume(tmp_path / "mount", tmp_path / "volume", reload_error=RuntimeError("there are open files"))
    monkeypatch.setenv("RENDER_CHUNK_DIR", str(volume.view / "chunks"))
    a_chunk_container_committed(volume, "job-open")

    with pytest.raises(CapabilityError) as raised:
        with owning_chunks("job-open", volume=volume, settle_s=0):
            raise CapabilityError("cancelled", "chunked render stopped: the job was cancelled", http_status=409)

    assert raised.value.code == "cancelled"  # not the reload's error: the hourly sweep is the backstop then
    assert volume.calls == ["reload"]


def test_a_chunk_dir_already_in_view_is_dropped_without_another_reload(volume):
    on_volume = a_chunk_container_committed(volume, "job-ok")
    volume.reload()  # what map_chunks does once every chunk came back
    volume.calls.clear()

    with owning_chunks("job-ok", volume=volume, settle_s=0):
        pass

    assert not on_volume.exists()
    assert volume.calls == ["commit"]
