"""A worker orphaned by a crashed server takes down what it started, even in other sessions.

When the server is SIGKILLed, its workers notice they were re-parented and kill their own
process group. A helper the job started in a session of its own (Remotion's `detached`
chromium, anything using `start_new_session`) is outside that group: it used to outlive
the worker and the restart, holding memory and writing where nobody cleans any more.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from runtime_support import eventually, gone

from modal_functions.runtime.watchdog import MARK_VAR

REPO = Path(__file__).resolve().parents[2]

# The worker: starts a helper in a session of its own, records both pids, then runs the
# worker's parent watch (which returns only by killing the worker).
WORKER = """
import os, subprocess, sys
from modal_functions.runtime import worker_main
helper = subprocess.Popen(["sleep", "300"], start_new_session=True)
open(sys.argv[1] + ".tmp", "w").write(f"{os.getpid()} {helper.pid}")
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
worker_main._die_with_parent(int(sys.argv[2]))
"""

# The server: starts the worker in its own session (as process.WorkerProcess does), waits
# until the worker has its helper, then dies without stopping it (a crash).
SERVER = """
import os, subprocess, sys, time
pids = sys.argv[1]
worker = subprocess.Popen([sys.executable, "-c", sys.argv[2], pids, str(os.getpid())], start_new_session=True)
while not os.path.exists(pids) and worker.poll() is None:
    time.sleep(0.01)
os._exit(0)
"""


def test_an_orphaned_worker_kills_its_helpers_in_other_sessions(tmp_path):
    pid_file = tmp_path / "pids"
    env = {**os.environ, MARK_VAR: "orphan-test-" + os.urandom(4).hex(), "PYTHONPATH": str(REPO)}
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(pid_file), WORKER], env=env, cwd=REPO, start_new_session=True)
    helper = None
    try:
        assert server.wait(timeout=60) == 0
        worker, helper = (int(p) for p in pid_file.read_text().split())
        eventually(lambda: gone(worker), timeout=30, interval=0.01)  # it noticed the server was gone
        eventually(lambda: gone(helper), timeout=10, interval=0.01)  # and took its helper with it
    finally:
        for pid in (helper,):
            if pid is not None and not gone(pid):
                os.kill(pid, 9)
