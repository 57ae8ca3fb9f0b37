"""A worker whose server is gone stops at once, even mid-job, instead of finishing the job first.

The server's end of a worker's inbound pipe closes only when the server dies (its `kill`
SIGKILLs the worker before closing it). The worker noticed EOF only between jobs; mid-job
it carried on until its once-a-second parent check, writing into the job's work dir while a
restarted server (which starts in under a second) had already swept it: a leftover dir no
sweep removed until the next restart.
"""

from __future__ import annotations

from runtime_support import DEADLINE, eventually, gone

from modal_functions.runtime.process import WorkerProcess
from modal_functions.settings import Settings


def test_a_worker_stops_mid_job_when_its_server_end_of_the_pipe_closes(tmp_path):
    settings = Settings(_env_file=None, CANVASCAST_DATA_DIR=str(tmp_path / "data"))
    worker = WorkerProcess("diagnostic", {"kind": "diagnostic", "settings": settings, "store": None})
    try:
        assert worker.poll(DEADLINE) and worker.recv()[0] == "ready"
        workdir = tmp_path / "job"
        workdir.mkdir()
        worker.send(("run", "job_eof", 1, {"action": "stall", "seconds": 0}, str(workdir)))  # silent for an hour
        while (message := (worker.recv() if worker.poll(DEADLINE) else ("timeout",)))[0] != "progress":
            assert message[0] == "hb", message  # it is running the job now
        # The server is still its parent (this process), so only the EOF can tell the worker.
        worker._to.close()
        eventually(lambda: gone(worker.pid), timeout=DEADLINE, interval=0.01)
    finally:
        worker.kill()
