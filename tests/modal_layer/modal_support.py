"""Helpers the Modal layer's tests share (importable by name, unlike conftest.py)."""

from __future__ import annotations

from pydantic import BaseModel

from modal_functions.config import default_path, load_config


def diagnostic_config(**update):
    """The repo's modal.toml with the diagnostic function made test-friendly (plus `update`)."""
    cfg = load_config(default_path())
    functions = dict(cfg.functions)
    functions["diagnostic"] = functions["diagnostic"].model_copy(update={"stall_timeout": 60.0, "retries": 0, "timeout": 60, **update})
    return cfg.model_copy(update={"functions": functions})


class StepsRequest(BaseModel):
    """The request of `fake_diagnostic`'s capability."""

    steps: int


class StepsResult(BaseModel):
    steps: int


def fake_diagnostic(monkeypatch, run):
    """The `diagnostic` kind as a capability whose body is `run(state, request, ctx)` (a
    `StepsRequest` in, a `StepsResult` out), for the real runner; undo with `runner._STATES.pop`."""
    from types import SimpleNamespace

    import modal_functions.capabilities as capabilities

    fake = SimpleNamespace(kind="diagnostic", request_model=StepsRequest, result_model=StepsResult, load=lambda: None, run=run)
    real = capabilities.get_capability
    monkeypatch.setattr(capabilities, "get_capability", lambda kind: fake if kind == "diagnostic" else real(kind))


def run_attempt(jobs, config, job_id, steps):
    """One attempt of a `diagnostic` job through the real runner (`scripted_diagnostic`'s body)."""
    from modal_functions.modal_layer import runner

    return runner.execute({"job_id": job_id, "kind": "diagnostic", "input": {"steps": steps}}, jobs, resource="cpu:0.25",
                          state=object(), cold_start=False, config=config, min_interval=0)
