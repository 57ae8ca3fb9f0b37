"""The hourly backstop for chunk dirs whose render never cleaned up (a container killed
outright, a cancelled chunk committing after the drop): old dirs go, live ones stay."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from modal_functions.modal_layer import app as modal_app
from modal_functions.modal_layer.chunks import sweep_stale_chunks

HOUR = 3600.0


def _job(root, name, age_s, now, late_file_age_s=None):
    d = root / name / "fanout-1"
    d.mkdir(parents=True)
    f = d / "chunk-0.ts"
    f.write_bytes(b"x")
    for p in (f, d, d.parent):
        os.utime(p, (now - age_s, now - age_s))
    if late_file_age_s is not None:  # a chunk that landed after the others
        late = d / "chunk-1.ts"
        late.write_bytes(b"y")
        os.utime(late, (now - late_file_age_s, now - late_file_age_s))
        os.utime(d, (now - age_s, now - age_s))


def test_only_dirs_untouched_for_longer_than_any_render_are_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("RENDER_CHUNK_DIR", str(tmp_path / "chunks"))
    root, now = tmp_path / "chunks", 1_000_000.0
    _job(root, "old", 5 * HOUR, now)
    _job(root, "live", 0.1 * HOUR, now)
    _job(root, "old-but-late-chunk", 5 * HOUR, now, late_file_age_s=0.2 * HOUR)
    commits = []
    removed = sweep_stale_chunks(2 * HOUR, now=now, volume=SimpleNamespace(commit=lambda: commits.append(1)))
    assert removed == ["old"]
    assert sorted(p.name for p in root.iterdir()) == ["live", "old-but-late-chunk"]
    assert commits == [1]
    assert sweep_stale_chunks(2 * HOUR, now=now, volume=SimpleNamespace(commit=lambda: commits.append(1))) == []
    assert commits == [1], "nothing removed, nothing committed"


def test_no_chunk_root_is_nothing_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("RENDER_CHUNK_DIR", str(tmp_path / "absent"))
    assert sweep_stale_chunks(HOUR) == []


@pytest.mark.filterwarnings("ignore:The sweep_chunks function is executing locally")
def test_the_sweep_is_an_hourly_job_on_the_volume_past_twice_the_render_timeout(tmp_path, monkeypatch):
    info = modal_app.sweep_chunks.info()
    assert info.schedule == "Period(hours=1)"
    assert list(info.volumes) == ["/cache"] and not info.volumes["/cache"].read_only
    monkeypatch.setenv("RENDER_CHUNK_DIR", str(tmp_path / "chunks"))
    calls = []
    monkeypatch.setattr(modal_app, "cache", SimpleNamespace(reload=lambda: calls.append("reload"), commit=lambda: calls.append("commit")))
    timeout = modal_app.CONFIG.function("render_video").timeout
    import time
    now = time.time()
    _job(tmp_path / "chunks", "stale", 2 * timeout + 60, now)
    _job(tmp_path / "chunks", "running", timeout, now)  # a render may still be on it
    assert modal_app.sweep_chunks.local() == {"removed": ["stale"]}
    assert calls == ["reload", "commit"]
