"""`lifecycle` / `backend` fixtures: every test here runs once per registered backend."""

from __future__ import annotations

import importlib.util
import sys
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

    def stop(self) -> None:
        self.factory.stop(self.backend)


@pytest.fixture(params=[pytest.param(name, marks=f.marks) for name, f in sorted(backends.FACTORIES.items())])
def lifecycle(request, tmp_path):
    factory = backends.FACTORIES[request.param]
    lc = Lifecycle(factory, tmp_path / "data", write_lifecycle_config(tmp_path / "modal.toml"))
    yield lc
    lc.stop()


@pytest.fixture
def backend(lifecycle):
    return lifecycle.backend
