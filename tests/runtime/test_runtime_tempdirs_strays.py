"""Job temp dirs a previous server's dying worker made after the start sweep are removed too.

A restarted server sweeps `tmp/jobs` at start, but a worker of the dead server may still be
finishing its kill (a C call holding the GIL delays its EOF reader) and recreate its work dir
after that sweep. Such a dir stayed until the next clean shutdown or start. Now the end of every
attempt removes what this server did not create (one server per data dir: the registry's lock),
and never a dir another attempt of this server is using.
"""

from __future__ import annotations

from pathlib import Path

from modal_functions.runtime.tempdirs import TempDirs


def test_the_end_of_an_attempt_removes_dirs_this_server_did_not_create(tmp_path: Path):
    dirs = TempDirs(tmp_path / "jobs")
    dirs.sweep()  # the start
    stray = dirs.root / "job_old-1"
    (stray / "frames").mkdir(parents=True)  # the old worker, after the sweep
    (stray / "frames" / "0001.png").write_bytes(b"late write")
    (dirs.root / "loose.part").write_bytes(b"late write")
    running = dirs.create("job_b", 1)  # another slot's attempt, still going
    (running / "in-use.txt").write_text("mine")
    done = dirs.create("job_a", 1)
    dirs.remove(done)
    assert dirs.live() == [running]
    assert (running / "in-use.txt").read_text() == "mine"
    dirs.remove(running)
    assert dirs.live() == []
