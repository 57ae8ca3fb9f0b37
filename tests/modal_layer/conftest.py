"""What the Modal layer's tests share: a `ModalBackend` on the fake primitives whose diagnostic
jobs neither stall out nor retry within a test (a file may override `backend` for other settings)."""

from __future__ import annotations

import pytest

from modal_support import diagnostic_config, fake_diagnostic
from modal_functions.modal_layer.fake_primitives import fake_backend


@pytest.fixture
def backend(tmp_path):
    b = fake_backend(tmp_path / "modal", diagnostic_config())
    yield b
    b.close()


@pytest.fixture
def scripted_diagnostic(monkeypatch):
    """The `diagnostic` kind run by the real runner with the body a test puts in `box["run"]` (`ctx` in)."""
    from modal_functions.modal_layer import runner

    box = {}
    fake_diagnostic(monkeypatch, lambda state, request, ctx: box["run"](ctx))
    yield box
    runner._STATES.pop("diagnostic", None)
