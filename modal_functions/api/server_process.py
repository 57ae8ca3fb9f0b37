"""Run `canvascast serve` as a child process on a free 127.0.0.1 port (tests, bench, local tools).

    with ServerProcess(data_dir=tmp, token="t") as server:
        HttpBackend(server.url, "t").submit(...)
        server.kill()          # SIGKILL the whole process group, as a crash would
        server.start()         # same port, same data dir

`start()` waits for `GET /health` with a deadline and records `healthy_after_s`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerNotHealthy(RuntimeError):
    pass


class ServerProcess:
    def __init__(
        self,
        data_dir: str | Path,
        token: str | None = None,
        *,
        port: int | None = None,
        modal_toml: str | Path | None = None,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
        log_path: str | Path | None = None,
        start_timeout: float = 30.0,
    ):
        self.data_dir = Path(data_dir)
        self.token = token
        self.port = port or free_port()
        self.modal_toml = modal_toml
        self.extra_env = env or {}
        self.args = args or []
        self.log_path = Path(log_path) if log_path else self.data_dir / "serve.log"
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.healthy_after_s: float | None = None
        self.startup_cpu_s: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPUTE_", "CANVASCAST_"))}
        env.update({"CANVASCAST_DATA_DIR": str(self.data_dir), "CANVASCAST_ENV": "local", "COMPUTE_PORT": str(self.port),
                    "PYTHONUNBUFFERED": "1"})
        if self.token:
            env["COMPUTE_TOKEN"] = self.token
        if self.modal_toml:
            env["CANVASCAST_MODAL_TOML"] = str(self.modal_toml)
        env.update(self.extra_env)
        return env

    def start(self) -> "ServerProcess":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # The readiness probe below cannot tell who answers on the port: with another server
        # already there, it answered 200 while ours was still importing (and about to exit
        # with `[cannot_listen]`), and start() "succeeded" against the wrong server.
        try:
            socket.create_server(("127.0.0.1", self.port)).close()  # SO_REUSEADDR, as the server binds
        except OSError as e:
            raise ServerNotHealthy(f"127.0.0.1:{self.port} is in use: {e.strerror or e}") from e
        log = open(self.log_path, "ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            # no --host/--port: exercises the defaults (127.0.0.1, COMPUTE_PORT from the environment)
            [sys.executable, "-m", "modal_functions.cli", "serve", *self.args],
            env=self._env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        deadline = t0 + self.start_timeout
        with httpx.Client(timeout=1.0) as client:
            while True:
                if self.proc.poll() is not None:
                    raise ServerNotHealthy(f"canvascast serve exited with {self.proc.returncode}; see {self.log_path}:\n{self.log_tail()}")
                try:
                    if client.get(f"{self.url}/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    self.kill()
                    raise ServerNotHealthy(f"not healthy within {self.start_timeout}s; see {self.log_path}:\n{self.log_tail()}")
                time.sleep(0.02)  # polling interval of a readiness probe, not synchronisation
        self.healthy_after_s = time.monotonic() - t0
        self.startup_cpu_s = self._cpu_seconds()
        return self

    def _cpu_seconds(self) -> float | None:
        """User+system CPU the server process (not its workers) has used, from /proc (Linux)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError, AttributeError):
            return None

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL the server's process group, like a crash. Its pool workers run in sessions of
        their own: they see they were orphaned and kill their own groups within a second."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        self.proc = None

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (graceful shutdown), then SIGKILL what is left of the group."""
        if self.proc is None:
            return None
        proc = self.proc
        try:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # stray workers, if any
        except ProcessLookupError:
            pass
        if code is None:
            code = proc.wait(timeout=10)
        self.proc = None
        return code

    def __enter__(self) -> "ServerProcess":
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
