"""Helpers the Modal layer's tests share (importable by name, unlike conftest.py)."""

from __future__ import annotations

from modal_functions.config import default_path, load_config


def diagnostic_config(**update):
    """The repo's modal.toml with the diagnostic function made test-friendly (plus `update`)."""
    cfg = load_config(default_path())
    functions = dict(cfg.functions)
    functions["diagnostic"] = functions["diagnostic"].model_copy(update={"stall_timeout": 60.0, "retries": 0, "timeout": 60, **update})
    return cfg.model_copy(update={"functions": functions})
