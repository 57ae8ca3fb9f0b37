"""A worker that dies on its own must not leave helpers behind, even in other sessions.

Remotion starts chromium with `detached: true` (a session of its own): when the worker
above it dies by itself (segfault, OOM kill), the orphans are reparented to init, out of
reach of both the /proc walk and the worker's process group.
"""

from __future__ import annotations

import os
import subprocess
import sys

from modal_functions.runtime.process import WorkerProcess
from modal_functions.runtime.watchdog import MARK_VAR, kill_marked, marked
from runtime_support import eventually, gone

# Stands in for `python -m modal_functions.runtime.worker_main P2C C2P`: it waits for the
# parent's init message, starts a helper in a new session, records its pid and dies.
STAND_IN = """#!/bin/sh
"{python}" - "$3" "$HELPER_PID_FILE" <<'PY'
import os, subprocess, sys
os.read(int(sys.argv[1]), 1)
helper = subprocess.Popen(["sleep", "300"], start_new_session=True)
open(sys.argv[2], "w").write(str(helper.pid))
PY
exit 13
"""


def test_a_worker_that_died_on_its_own_leaves_no_helper_in_another_session(tmp_path):
    stand_in = tmp_path / "worker.sh"
    stand_in.write_text(STAND_IN.format(python=sys.executable))
    stand_in.chmod(0o755)
    pid_file = tmp_path / "helper.pid"
    worker = WorkerProcess("diagnostic", {}, python=str(stand_in), env={**os.environ, "HELPER_PID_FILE": str(pid_file)})
    helper = None
    try:
        assert worker.proc.wait(timeout=30) == 13  # died by itself
        helper = int(pid_file.read_text())
        assert not gone(helper) and os.getsid(helper) != worker.pid  # an orphan in its own session

        worker.kill()

        eventually(lambda: gone(helper), timeout=10, interval=0.005)  # SIGKILL lands asynchronously
    finally:
        if helper is not None and not gone(helper):
            os.kill(helper, 9)


def test_kill_marked_spares_processes_without_the_mark():
    env = {**os.environ, MARK_VAR: "mark-a"}
    a = subprocess.Popen(["sleep", "300"], env=env, start_new_session=True)
    b = subprocess.Popen(["sleep", "300"], env={**os.environ, MARK_VAR: "mark-a-but-longer"})
    try:
        eventually(lambda: marked("mark-a") == [a.pid], timeout=10, interval=0.005)
        assert kill_marked("mark-a") == 1
        assert a.wait(timeout=10) == -9
        assert b.poll() is None
    finally:
        for p in (a, b):
            p.kill()
            p.wait()
