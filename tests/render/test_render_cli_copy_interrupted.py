"""`canvascast render`: Ctrl-C or SIGTERM while the MP4 is copied to -o leaves no partial file.

The MP4 goes to `-o` through a hidden `.NAME.part` file; a failed copy removed it, but an
interrupt (KeyboardInterrupt, or the SystemExit of the SIGTERM/SIGHUP handler) passed the
`except OSError` and left the half-copied `.part` file next to where the video should be.
"""

from __future__ import annotations

import dataclasses
import json
import types

import pytest

from modal_functions.cli import main


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, lambda: SystemExit(128 + 15)])
def test_an_interrupted_copy_leaves_no_partial_file(capsys, tmp_path, monkeypatch, interrupt):
    import modal_functions.render.capability as capability
    import modal_functions.render.commands as commands

    (tmp_path / "a.png").write_bytes(b"")
    timeline = {"resolution": 360, "fps": 24, "durationMs": 1000, "titleMs": 0, "scenes": [{"image": "a.png", "startMs": 0, "endMs": 1000}]}
    (tmp_path / "t.json").write_text(json.dumps(timeline))

    def fake_run(state, request, ctx):  # the render itself is not what this test is about
        video = ctx.store.put_bytes(b"\x00\x00\x00\x18ftypmp42", "mp4")
        return types.SimpleNamespace(video=video, width=640, height=360, fps=24, frames=24, chunks=1, renderSeconds=0.1)

    def interrupted(src, dst):
        with open(dst, "wb") as f:
            f.write(b"half an mp4")
        raise interrupt()

    fake = dataclasses.replace(capability.CAPABILITY, load=lambda: None, run=fake_run, close=lambda state: None)
    monkeypatch.setattr(capability, "CAPABILITY", fake)
    monkeypatch.setattr(commands.shutil, "copyfile", interrupted)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    try:
        status = main(["render", str(tmp_path / "t.json"), "-o", str(out_dir / "x.mp4"), "-q"])
    except SystemExit as e:  # the SIGTERM handler's exit goes on up, as it does in the real process
        status = e.code
    assert status in (130, 128 + 15)
    assert list(out_dir.iterdir()) == [], "no .part file, no MP4"
