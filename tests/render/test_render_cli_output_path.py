"""`canvascast render -o`: what the output path may be, and what a failed render leaves there.

- `-o newdir/out.mp4` made `newdir` before the render; a render that then failed (a bad
  asset, a crash, Ctrl-C) left that new, empty directory behind.
- `-o x.webm` (or .mov, .gif, ...) wrote an MP4 under that name: a file players and upload
  forms then take for what its name says. The CLI writes MP4 only, so any other extension
  is a `bad_output` before anything loads.
"""

from __future__ import annotations

import dataclasses

import pytest

from modal_functions.cli import main
from render_support import fake_render_capability, write_cli_timeline


@pytest.fixture
def timeline(tmp_path):
    return write_cli_timeline(tmp_path)


def _bad_asset(_state, _request, _ctx):
    from modal_functions.errors import CapabilityError

    raise CapabilityError("bad_asset", "scenes[0].image: the file is empty", http_status=422)


def _interrupted(_state, _request, _ctx):
    raise KeyboardInterrupt


@pytest.mark.parametrize("run,status", [(_bad_asset, 2), (_interrupted, 130)])
def test_a_failed_render_removes_the_directories_it_made_for_the_output(timeline, tmp_path, monkeypatch, capsys, run, status):
    fake_render_capability(monkeypatch, run)
    out = tmp_path / "new" / "deeper" / "out.mp4"
    assert main(["render", str(timeline), "-o", str(out), "-q"]) == status
    assert not (tmp_path / "new").exists(), "the directories made for -o must go with the failed render"


def test_a_failed_render_keeps_a_directory_that_was_there(timeline, tmp_path, monkeypatch, capsys):
    fake_render_capability(monkeypatch, _bad_asset)
    (tmp_path / "there").mkdir()
    out = tmp_path / "there" / "new" / "out.mp4"
    assert main(["render", str(timeline), "-o", str(out), "-q"]) == 2
    assert (tmp_path / "there").is_dir() and not (tmp_path / "there" / "new").exists()


@pytest.mark.parametrize("name", ["x.webm", "x.mov", "x.gif", "x.mp4.tmp", "x"])
def test_an_output_named_for_another_format_is_a_bad_output(timeline, tmp_path, monkeypatch, capsys, name):
    def never(*_a, **_k):
        raise AssertionError("the render capability was loaded")

    from modal_functions.render import capability

    monkeypatch.setattr(capability, "CAPABILITY", dataclasses.replace(capability.CAPABILITY, load=never, run=never))
    assert main(["render", str(timeline), "-o", str(tmp_path / "sub" / name), "-q"]) == 2
    err = capsys.readouterr().err
    assert "error [bad_output]" in err and ".mp4" in err, err
    assert not (tmp_path / "sub").exists()


@pytest.mark.parametrize("name", ["x.mp4", "X.MP4"])
def test_an_mp4_name_in_any_case_is_written(timeline, tmp_path, monkeypatch, capsys, name):
    def fake_run(_state, _request, ctx):
        from modal_functions.contract.render import RenderVideoResult

        video = tmp_path / "rendered.mp4"
        video.write_bytes(b"\0" * 64)
        return RenderVideoResult(video=ctx.store.put_file(video, ".mp4", "video/mp4"), durationMs=1000, frames=24,
                                 width=640, height=360, fps=24, chunks=1)

    fake_render_capability(monkeypatch, fake_run)
    out = tmp_path / "new" / name
    assert main(["render", str(timeline), "-o", str(out), "-q"]) == 0
    assert out.read_bytes() == b"\0" * 64
