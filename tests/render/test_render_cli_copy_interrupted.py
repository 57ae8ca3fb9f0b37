"""`canvascast render`: a copy to -o that fails or is interrupted leaves no partial file.

The MP4 goes to `-o` through a hidden `.NAME.part` file. A failed copy (a full disk) names
the user's path, not our store's, and removes it; an interrupt (KeyboardInterrupt, or the
SystemExit of the SIGTERM/SIGHUP handler) passed the `except OSError` and left the
half-copied `.part` file next to where the video should be.
"""

from __future__ import annotations

import errno

import pytest

from modal_functions.cli import main
from render_support import fake_render_capability, tiny_video_run, write_cli_timeline


def _copy_that_fails(monkeypatch, error):
    import modal_functions.render.commands as commands

    def copy(src, dst):
        with open(dst, "wb") as f:
            f.write(b"half an mp4")
        raise error()

    fake_render_capability(monkeypatch, tiny_video_run)
    monkeypatch.setattr(commands.shutil, "copyfile", copy)


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, lambda: SystemExit(128 + 15)])
def test_an_interrupted_copy_leaves_no_partial_file(capsys, tmp_path, monkeypatch, interrupt):
    timeline = write_cli_timeline(tmp_path)
    _copy_that_fails(monkeypatch, interrupt)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    try:
        status = main(["render", str(timeline), "-o", str(out_dir / "x.mp4"), "-q"])
    except SystemExit as e:  # the SIGTERM handler's exit goes on up, as it does in the real process
        status = e.code
    assert status in (130, 128 + 15)
    assert list(out_dir.iterdir()) == [], "no .part file, no MP4"


def test_a_copy_to_a_full_disk_names_the_output_and_leaves_no_partial_file(capsys, tmp_path, monkeypatch):
    timeline = write_cli_timeline(tmp_path)
    _copy_that_fails(monkeypatch, lambda: OSError(errno.ENOSPC, "No space left on device", "x"))
    out = tmp_path / "out" / "x.mp4"
    assert main(["render", str(timeline), "-o", str(out), "-q"]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err == [f"canvascast render: error [bad_output]: cannot write {out}: No space left on device"]
    assert not (tmp_path / "out").exists()  # made for -o, removed again with the failed copy
