"""`make_backend(...)`: an in-house backend serving only the diagnostic kind, on a tmp data dir."""

from __future__ import annotations

import pytest

from modal_functions.config import load_config
from modal_functions.runtime.inhouse import InHouseBackend
from modal_functions.runtime.testing import write_config
from modal_functions.settings import Settings


@pytest.fixture
def make_backend(tmp_path):
    made: list[InHouseBackend] = []

    def make(*, workers: int = 1, queue: int = 25, preload: bool = True, **function) -> InHouseBackend:
        # No test here waits for a stall: the stall timeout only has to outlast any pause of a loaded machine.
        fn = {"timeout": 10, "stall_timeout": 6.0, "retries": 2, **function}
        path = write_config(
            tmp_path / f"modal-{len(made)}.toml",
            functions={"diagnostic": fn},
            inhouse={"diagnostic": {"workers": workers, "queue": queue, "preload": preload}},
        )
        settings = Settings(_env_file=None, CANVASCAST_DATA_DIR=str(tmp_path / "data"))
        backend = InHouseBackend(load_config(path), settings, kinds=["diagnostic"])
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()
