"""The parent's handle on one worker process: spawn, send, receive, kill.

Each worker runs `worker_main` in its own session (`start_new_session=True`), so its
pid is also its process-group id and `kill()` takes the worker and every process the
job started (ffmpeg, chromium, ...) down with `os.killpg(pid, SIGKILL)`; descendants
that moved to a session of their own are found through /proc and killed first, and
those of a worker that died on its own (orphans, no longer below it) by the mark in
their environment (`watchdog.kill_marked`).
The pipes are private to this worker (fds are non-inheritable except the two passed),
so when a worker dies its pipe reaches EOF at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from multiprocessing.connection import Connection
from typing import Any

from .proctmp import remove_for
from .watchdog import MARK_VAR, kill_descendants, kill_marked, kill_process_group


class WorkerDied(Exception):
    """The worker process exited or its pipe broke."""


class WorkerProcess:
    def __init__(self, kind: str, init: dict[str, Any], *, python: str = sys.executable, env: dict[str, str] | None = None):
        self.kind = kind
        self.mark = uuid.uuid4().hex  # inherited by everything the worker starts
        p2c_r, p2c_w = os.pipe()
        c2p_r, c2p_w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [python, "-m", "modal_functions.runtime.worker_main", str(p2c_r), str(c2p_w)],
                pass_fds=(p2c_r, c2p_w),
                start_new_session=True,
                stdin=subprocess.DEVNULL,
                env={**(os.environ if env is None else env), MARK_VAR: self.mark},
            )
        except BaseException:
            for fd in (p2c_r, p2c_w, c2p_r, c2p_w):
                os.close(fd)
            raise
        os.close(p2c_r)
        os.close(c2p_w)
        self.pid = self.proc.pid
        self._to = Connection(p2c_w, readable=False)
        self._from = Connection(c2p_r, writable=False)
        self._send_lock = threading.Lock()  # the slot thread and part updates from other slots
        self.send(("init", init))

    def send(self, message: tuple) -> None:
        try:
            with self._send_lock:
                self._to.send(message)
        except (BrokenPipeError, ConnectionResetError, OSError) as e:
            raise WorkerDied(f"worker {self.pid} pipe closed: {e}") from e

    def poll(self, timeout: float) -> bool:
        """True when a message (or EOF) is ready within `timeout` seconds."""
        try:
            return self._from.poll(timeout)
        except (OSError, EOFError):
            return True

    def recv(self) -> tuple:
        try:
            return self._from.recv()
        except (EOFError, OSError) as e:
            try:
                code = self.proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                code = None
            raise WorkerDied(f"worker {self.pid} exited (code {code})") from e

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the worker, every process it started (even in other sessions) and its group; reap it."""
        if self.proc.poll() is None:
            try:
                kill_descendants(self.pid)
            except ProcessLookupError:
                pass
        kill_process_group(self.pid)
        kill_marked(self.mark)  # orphans of a worker that died on its own, in other sessions
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        else:
            remove_for(self.pid)  # its out-of-job temp dirs (render sidecar): nothing may outlive it
        self._close_pipes()

    def stop(self, grace: float = 2.0) -> None:
        """Ask the worker to close its heavy state and exit; kill it after `grace` seconds."""
        try:
            self.send(("stop",))
            self.proc.wait(timeout=grace)
        except (WorkerDied, subprocess.TimeoutExpired):
            pass
        self.kill()

    def _close_pipes(self) -> None:
        for conn in (self._to, self._from):
            try:
                conn.close()
            except OSError:
                pass
