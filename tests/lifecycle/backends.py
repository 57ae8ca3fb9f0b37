"""The `JobBackend`s the lifecycle tests run against, one factory each.

The tests in this folder are written once against the interface; each factory says
how to start a backend on a data dir + modal.toml and how to "kill the server".
Another area adds its backend without touching the tests, by dropping a
`tests/<area>/lifecycle_backend.py` that defines `FACTORIES = [BackendFactory(...)]`
(`from modal_functions.runtime.testing import BackendFactory`)
(e.g. the HTTP client against `canvascast serve`, or Modal on fake primitives).

A backend's errors must be `CapabilityError`s with the contract's codes; a 429 carries
`retry_after` (seconds).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from modal_functions.runtime.backend import JobBackend
from modal_functions.runtime.testing import BackendFactory

TESTS = Path(__file__).resolve().parent.parent


def _start_inhouse(data_dir: Path, modal_toml: Path) -> JobBackend:
    from modal_functions.config import load_config
    from modal_functions.runtime.inhouse import InHouseBackend
    from modal_functions.settings import Settings

    settings = Settings(_env_file=None, CANVASCAST_DATA_DIR=str(data_dir))
    return InHouseBackend(load_config(modal_toml), settings, kinds=["diagnostic"])


def _crash_inhouse(backend: JobBackend) -> None:
    backend.abandon()  # type: ignore[attr-defined]


FACTORIES: dict[str, BackendFactory] = {}


def register(factory: BackendFactory) -> None:
    FACTORIES[factory.name] = factory


register(BackendFactory("inhouse", _start_inhouse, _crash_inhouse))


def _discover() -> None:
    for path in sorted(TESTS.glob("*/lifecycle_backend.py")):
        name = f"lifecycle_backend_{path.parent.name}"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        for factory in getattr(module, "FACTORIES", []):
            register(factory)


_discover()
