"""The Modal `JobBackend` in the shared lifecycle tests (tests/lifecycle), on the minimal fake.

`ModalBackend` runs against `fake_primitives` (Dict, spawn, FunctionCall): each job
attempt runs `runner.execute` in a fresh process, as in a Modal container.

- Admission on Modal is `max_containers` jobs in flight per kind; this factory sizes it
  like the in-house pool of the test modal.toml (workers + queue), so the same
  capacity test applies to both.
- "Crash" is the Modal analogue of SIGKILLing the in-house server with its workers:
  `modal app stop` (every unfinished call is terminated). The restarted backend finds
  the records in the Dict and reports those jobs `interrupted`, never lost. (If only
  an API container dies, calls keep running: see test_modal_backend_fake.py.)
"""

from __future__ import annotations

from pathlib import Path

from modal_functions.config import load_config
from modal_functions.modal_layer.fake_primitives import fake_backend
from modal_functions.runtime.testing import BackendFactory


def _start(data_dir: Path, modal_toml: Path):
    config = load_config(modal_toml)
    pool = config.pool("diagnostic")
    functions = dict(config.functions)
    functions["diagnostic"] = functions["diagnostic"].model_copy(update={"max_containers": pool.workers + pool.queue})
    return fake_backend(data_dir / "modal", config.model_copy(update={"functions": functions}))


def _crash(backend) -> None:
    backend.p.stop_app()


FACTORIES = [BackendFactory("modal-fake", _start, _crash)]
