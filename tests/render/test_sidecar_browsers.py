"""A render's frames come from one browser per frame rendered at once, into one encoder.

Remotion renders `concurrency` frames at once in that many tabs of one browser; on these 2
cores that was slower than a single tab. The sidecar opens a browser per frame in flight and
gives Remotion one tab in each (`sidecar/browsers.mjs`): same frames, same single encode.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from render_support import process_tree

from modal_functions.render import project, sidecar as sidecar_mod
from modal_functions.render.chunks import chunk_concurrency


def _browser_mains(sc) -> list[int]:
    """The sidecar's browser main processes (chromium below it with no --type=)."""
    mains = []
    for pid in sorted(process_tree(sc.proc.pid)):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"chrom" in cmdline.split(b"\0")[0] and b"--type=" not in cmdline:
            mains.append(pid)
    return mains


def _cpu_ticks(root: int) -> int:
    """utime + stime of `root` and every process below it now."""
    total = 0
    for pid in {root, *process_tree(root)}:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total


def _stream_md5(path: Path, stream: str) -> str:
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", f"0:{stream}", "-c", "copy", "-f", "md5", "-"],
                         capture_output=True, text=True, check=True).stdout
    return out.strip()


@pytest.fixture
def two_browsers(render_state, assets):
    from modal_functions.render.sidecar import Sidecar

    sc = Sidecar(project.ensure_bundle(), browsers=2)
    sc.ensure()
    for name in ("red", "blue"):
        shutil.copyfile(assets[name], sc.serve_dir / f"{name}.png")
    shutil.copyfile(assets["narration"], sc.serve_dir / "narration.wav")
    yield sc
    sc.close()


def _props(sc):
    from modal_functions.contract.render import Timeline
    from modal_functions.render.timeline import check_timeline

    timeline = Timeline.model_validate({
        "resolution": 360, "fps": 24, "durationMs": 2000, "title": "Two browsers", "titleMs": 500,
        "scenes": [
            {"image": f"{sc.base_url}/red.png", "startMs": 0, "endMs": 1000,
             "kenBurnsFrom": {"zoom": 1, "x": 0.5, "y": 0.5}, "kenBurnsTo": {"zoom": 1.3, "x": 0.3, "y": 0.6}},
            {"image": f"{sc.base_url}/blue.png", "startMs": 1000, "endMs": 2000, "transition": "slide"},
        ],
        "narration": f"{sc.base_url}/narration.wav",
        "captions": [{"text": "one", "startMs": 100, "endMs": 600}, {"text": "two", "startMs": 700, "endMs": 1500}],
    })
    return timeline.model_dump(mode="json"), check_timeline(timeline).composition()


def test_two_browsers_render_the_same_bytes_as_one_and_both_do_the_work(two_browsers, tmp_path):
    sc = two_browsers
    mains = _browser_mains(sc)
    assert len(mains) == 2, "the sidecar keeps two browsers open from the start"
    props, comp = _props(sc)

    one = sc.render(props, tmp_path / "one.mp4", composition=comp, concurrency=1)
    before = [_cpu_ticks(pid) for pid in mains]
    two = sc.render(props, tmp_path / "two.mp4", composition=comp)  # the default: both browsers
    spent = [_cpu_ticks(pid) - b for pid, b in zip(mains, before)]

    assert one["frames"] == two["frames"] == 48
    assert _stream_md5(tmp_path / "one.mp4", "v") == _stream_md5(tmp_path / "two.mp4", "v")
    assert _stream_md5(tmp_path / "one.mp4", "a") == _stream_md5(tmp_path / "two.mp4", "a")
    # each browser rendered a share of the frames: neither sat idle while the other did it all
    assert min(spent) > 0.25 * max(spent), spent


def test_a_second_browser_that_died_while_idle_is_replaced_before_the_next_render(two_browsers, tmp_path):
    sc = two_browsers
    node = sc.proc.pid
    first, second = _browser_mains(sc)
    os.kill(second, 9)
    props, comp = _props(sc)
    assert sc.render(props, tmp_path / "after.mp4", composition=comp)["frames"] == 48
    assert sc.proc.pid == node, "the same sidecar"
    mains = _browser_mains(sc)
    assert len(mains) == 2 and first in mains and second not in mains


def test_a_render_may_ask_for_more_browsers_than_the_sidecar_started_with(render_state, assets, tmp_path):
    from modal_functions.render.sidecar import Sidecar

    sc = Sidecar(project.ensure_bundle(), browsers=1)
    try:
        sc.ensure()
        assert len(_browser_mains(sc)) == 1
        for name in ("red", "blue"):
            shutil.copyfile(assets[name], sc.serve_dir / f"{name}.png")
        shutil.copyfile(assets["narration"], sc.serve_dir / "narration.wav")
        props, comp = _props(sc)
        assert sc.render(props, tmp_path / "more.mp4", composition=comp, concurrency=2)["frames"] == 48
        assert len(_browser_mains(sc)) == 2, "the second browser stays open for the next render"
    finally:
        sc.close()


def test_default_concurrency_is_one_browser_per_core_capped_and_overridable(monkeypatch):
    monkeypatch.delenv("RENDER_CONCURRENCY", raising=False)
    monkeypatch.setattr(sidecar_mod, "cores", lambda: 2)
    assert sidecar_mod.default_concurrency() == 2
    monkeypatch.setattr(sidecar_mod, "cores", lambda: 64)
    assert sidecar_mod.default_concurrency() == sidecar_mod.MAX_BROWSERS
    monkeypatch.setenv("RENDER_CONCURRENCY", "1")
    assert sidecar_mod.default_concurrency() == 1
    monkeypatch.setattr(sidecar_mod, "cores", lambda: 2)
    monkeypatch.setenv("RENDER_CONCURRENCY", "6")
    assert sidecar_mod.default_concurrency() == 2, "Remotion refuses more than the cores"


def test_chunks_sharing_a_machine_split_its_browsers(monkeypatch):
    monkeypatch.delenv("RENDER_CONCURRENCY", raising=False)
    monkeypatch.setattr(sidecar_mod, "cores", lambda: 8)
    assert [chunk_concurrency(n) for n in (1, 2, 3, 4, 8, 16)] == [8, 4, 2, 2, 1, 1]


def test_cores_reads_the_cgroup_quota(monkeypatch, tmp_path):
    quota = tmp_path / "cpu.max"
    monkeypatch.setattr(sidecar_mod, "CGROUP_CPU_MAX", quota)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(16)))
    quota.write_text("400000 100000\n")
    assert sidecar_mod.cores() == 4
    quota.write_text("max 100000\n")
    assert sidecar_mod.cores() == 16
    quota.write_text("50000 100000\n")
    assert sidecar_mod.cores() == 1
    quota.unlink()
    assert sidecar_mod.cores() == 16, "no cgroup v2 file: the affinity"


def test_a_browser_the_render_does_not_use_may_die_under_it(two_browsers, tmp_path):
    """A one-browser render (an in-house chunk) goes on when the sidecar's other browser dies;
    that one is replaced before the next render."""
    sc = two_browsers
    node = sc.proc.pid
    mains = _browser_mains(sc)
    props, comp = _props(sc)
    before = {pid: _cpu_ticks(pid) for pid in mains}
    killed = []

    def kill_the_other(msg):
        # the browser the render does not use is the one that has done nothing since it began
        if msg.get("type") == "progress" and msg.get("rendered", 0) > 0 and not killed:
            idle = min(mains, key=lambda pid: _cpu_ticks(pid) - before[pid])
            killed.append(idle)
            os.kill(idle, 9)

    result = sc.request({"type": "render", "props": props, "output": str(tmp_path / "one.mp4"), "codec": "h264",
                         "composition": comp, "concurrency": 1}, on_message=kill_the_other, silence_timeout=30)
    assert killed and result["frames"] == 48
    assert sc.proc.pid == node, "the same sidecar: the render was not ended for a browser it did not use"
    assert sc.render(props, tmp_path / "two.mp4", composition=comp)["frames"] == 48
    now = _browser_mains(sc)
    assert len(now) == 2 and killed[0] not in now and set(mains) - set(killed) <= set(now)


def test_more_browsers_than_cores_render_with_as_many_as_remotion_allows(two_browsers, tmp_path):
    """Remotion refuses a concurrency above its count of the cores: that was a final render_failed."""
    sc = two_browsers
    props, comp = _props(sc)
    assert sc.render(props, tmp_path / "many.mp4", composition=comp, concurrency=64)["frames"] == 48
    assert len(_browser_mains(sc)) == max(2, min(64, len(os.sched_getaffinity(0)))), "as many as the cores, no more"
