"""Temp dirs owned by one worker process, removed when that process goes.

Some heavy state lives outside a job's attempt dir because it outlives jobs (the render
sidecar's serve dir and browser profile). Those dirs are named `<pid>-<label>...` under
`$TMPDIR/canvascast-proc/`, so:

- the parent removes a worker's dirs as soon as it has killed and reaped it (cancel,
  timeout, stall, crash, shutdown: `WorkerProcess.kill`), even mid-job;
- dirs of processes that died some other way are swept by the next `private_dir` call.

Paths stay short on purpose: chromium puts a unix socket in its profile (108-byte limit).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

ROOT_NAME = "canvascast-proc"


def root() -> Path:
    return Path(tempfile.gettempdir()) / ROOT_NAME


def private_dir(label: str = "") -> Path:
    """A new dir owned by this process: `$TMPDIR/canvascast-proc/<pid>-<label><random>/`."""
    base = root()
    base.mkdir(parents=True, exist_ok=True)
    sweep_dead()
    return Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-{label}", dir=base))


def remove_for(pid: int) -> int:
    """Remove every dir process `pid` owned; returns how many there were."""
    base = root()
    if not base.exists():
        return 0
    dirs = list(base.glob(f"{pid}-*"))
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)
    return len(dirs)


def sweep_dead() -> int:
    """Remove the dirs of processes that no longer exist."""
    base = root()
    if not base.exists():
        return 0
    removed = 0
    for d in base.iterdir():
        try:
            os.kill(int(d.name.split("-", 1)[0]), 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
            removed += 1
        except (ValueError, PermissionError):
            pass
    return removed
