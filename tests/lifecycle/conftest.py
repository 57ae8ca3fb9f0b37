"""`lifecycle` / `backend` fixtures: every test here runs once per registered backend.

A backend is shared by the tests of a module (a server start per test would dominate
the run); `backend` waits until the previous test's jobs are gone, and restarts the
backend if they never go, so tests stay independent.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import pytest

from modal_functions.config import load_config
from modal_functions.runtime.testing import write_lifecycle_config

_spec = importlib.util.spec_from_file_location("lifecycle_backends", Path(__file__).with_name("backends.py"))
backends = importlib.util.module_from_spec(_spec)
sys.modules["lifecycle_backends"] = backends
_spec.loader.exec_module(backends)  # type: ignore[union-attr]


class Lifecycle:
    """One backend under test, restartable on the same data dir (same registry)."""

    def __init__(self, factory, data_dir: Path, modal_toml: Path):
        self.factory = factory
        self.data_dir = data_dir
        self.modal_toml = modal_toml
        self.config = load_config(modal_toml)
        self.backend = factory.start(data_dir, modal_toml)

    def crash_and_restart(self):
        self.factory.crash(self.backend)
        self.backend = self.factory.start(self.data_dir, self.modal_toml)
        return self.backend

    def restart(self):
        self.factory.stop(self.backend)
        self.backend = self.factory.start(self.data_dir, self.modal_toml)
        return self.backend

    def stop(self) -> None:
        self.factory.stop(self.backend)


QUIET_DEADLINE_S = 15.0


def _quiet(backend) -> bool:
    """No job busy or queued on any kind: the previous test left nothing behind."""
    return all(c.busy == 0 and c.queued == 0 for c in backend.capacity().values())


@pytest.fixture(scope="module", params=[pytest.param(name, marks=f.marks) for name, f in sorted(backends.FACTORIES.items())])
def lifecycle(request, tmp_path_factory):
    """One backend per module and factory (starting a server per test is slow); see `backend`."""
    factory = backends.FACTORIES[request.param]
    root = tmp_path_factory.mktemp(f"lifecycle-{request.param}")
    lc = Lifecycle(factory, root / "data", write_lifecycle_config(root / "modal.toml"))
    yield lc
    lc.stop()


@pytest.fixture
def backend(lifecycle):
    """The shared backend, quiet at the start of every test; restarted fresh if a test left work behind."""
    deadline = time.monotonic() + QUIET_DEADLINE_S
    while not _quiet(lifecycle.backend):
        if time.monotonic() > deadline:
            lifecycle.restart()
            break
        time.sleep(0.02)
    return lifecycle.backend
