"""Registers the HTTP backend with the lifecycle tests (tests/lifecycle/backends.py discovers this file).

Each start runs a real `canvascast serve` subprocess on a free 127.0.0.1 port and talks
to it with `HttpBackend`, so every lifecycle test also runs over HTTP. "Crash" is a
SIGKILL of the server's whole process group; the restart serves the same data dir.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from modal_functions.api.client import HttpBackend
from modal_functions.api.server_process import ServerProcess

TOKEN = "lifecycle-token"


class ServedHttpBackend(HttpBackend):
    """An HttpBackend that owns the server it talks to."""

    def __init__(self, server: ServerProcess):
        super().__init__(server.url, server.token)
        self.server = server


def _start(data_dir: Path, modal_toml: Path) -> ServedHttpBackend:
    server = ServerProcess(data_dir, TOKEN, modal_toml=modal_toml, args=["--kinds", "diagnostic", "--no-access-log"],
                           log_path=data_dir.parent / f"serve-{data_dir.name}.log")
    return ServedHttpBackend(server.start())


def _crash(backend: ServedHttpBackend) -> None:
    backend.close()
    backend.server.kill()


def _stop(backend: ServedHttpBackend) -> None:
    backend.close()
    backend.server.stop()


@dataclass
class _Factory:  # same fields as tests/lifecycle/backends.BackendFactory (that module is not importable from here)
    name: str
    start: Callable[[Path, Path], Any]
    crash: Callable[[Any], None]
    marks: list[Any] = field(default_factory=list)
    stop: Callable[[Any], None] = lambda backend: backend.close()


FACTORIES = [_Factory("http", _start, _crash, stop=_stop)]
