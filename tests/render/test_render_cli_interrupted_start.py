"""`canvascast render`: Ctrl-C while the sidecar starts stops it and removes its temp dirs.

The CLI closed the render state only once `load()` had returned it. Ctrl-C (or SIGTERM)
during the second or two the sidecar takes to open its browser left the shared sidecar
made but never closed: its serve dir and browser profile stayed in
`$TMPDIR/canvascast-proc/` after the command had returned.
"""

from __future__ import annotations

import json

from modal_functions.cli import main


def test_ctrl_c_while_the_sidecar_starts_closes_it(render_state, capsys, tmp_path, monkeypatch):
    from modal_functions.render import sidecar as sidecar_mod

    (tmp_path / "a.png").write_bytes(b"")
    timeline = {"resolution": 360, "fps": 24, "durationMs": 1000, "titleMs": 0, "scenes": [{"image": "a.png", "startMs": 0, "endMs": 1000}]}
    (tmp_path / "t.json").write_text(json.dumps(timeline))

    started = []
    real_start = sidecar_mod.Sidecar._start

    def start_then_ctrl_c(self):
        real_start(self)
        started.append(self)
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C while waiting for "ready"

    monkeypatch.setattr(sidecar_mod, "_shared", None)  # this process's own shared sidecar, not a test's
    monkeypatch.setattr(sidecar_mod.Sidecar, "_start", start_then_ctrl_c)
    status = main(["render", str(tmp_path / "t.json"), "-o", str(tmp_path / "x.mp4"), "-q"])
    monkeypatch.setattr(sidecar_mod.Sidecar, "_start", real_start)
    try:
        assert status == 130 and "interrupted" in capsys.readouterr().err
        (sc,) = started
        assert sc.proc.poll() is not None, "the sidecar must not outlive the command"
        assert not sc.serve_dir.exists() and not sc.tmp_dir.exists(), "its temp dirs must go with it"
        assert sidecar_mod._shared is None
    finally:
        for sc in started:
            sc.close()
