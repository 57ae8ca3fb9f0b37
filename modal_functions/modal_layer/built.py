"""# Reading settings back from the built Modal objects

Tests and `canvascast modal settings` must show what Modal will actually be told,
not what `modal.toml` says. Resources, timeout and retries come from the public
`FunctionInfo` that a locally built function carries (`fn.info()`; for an `@app.cls`,
the info of its service function). Modal 1.6 does not expose the autoscaler
settings of an undeployed function publicly, so they are read from the
`AutoscalerSettings` proto that the function's loader will send with
`FunctionCreate` at deploy time: the exact message `modal deploy` uploads.
"""

from __future__ import annotations

from typing import Any

import modal
from modal._utils.async_utils import synchronizer

from .settings_from_toml import CLASSES, MODAL_OBJECTS, SCALING_KEYS


def _service_function(obj: Any):
    """The private `_Function` behind a `modal.Function` or a `modal.Cls`."""
    raw = synchronizer._translate_in(obj)
    if isinstance(obj, modal.Cls):
        return raw._get_class_service_function()
    return raw


def _loader_cells(raw_fn) -> dict[str, Any]:
    code = raw_fn._load.__code__
    return {name: cell.cell_contents for name, cell in zip(code.co_freevars, raw_fn._load.__closure__ or ())}


def read_settings(obj: Any) -> dict[str, Any]:
    """`{gpu, cpu, memory, timeout, retries, min_containers, ...}` of one built Modal object."""
    raw = _service_function(obj)
    # `fn.info()` for a function; a class's settings live on its service function.
    info = raw._function_info if isinstance(obj, modal.Cls) else obj.info()
    cells = _loader_cells(raw)
    scaling = cells["autoscaler_settings"]
    gpus = [name for name, _count in info.gpus]
    out = {
        "gpu": gpus[0] if gpus else None,
        "cpu": info.cpu,
        "memory": info.memory_mib,
        "timeout": info.timeout,
        "retries": info.max_retries if info.max_retries is not None else 0,
    }
    for key in SCALING_KEYS:
        out[key] = getattr(scaling, key) if scaling.HasField(key) else None
    out["schedule"] = info.schedule
    out["volumes"] = sorted(info.volumes)
    out["read_only_volumes"] = sorted(path for path, mount in info.volumes.items() if mount.read_only)
    out["secrets"] = list(info.secrets)
    out["web"] = info.web_info is not None or cells.get("webhook_config") is not None
    return out


def app_objects(module: Any) -> dict[str, Any]:
    """Every Modal object of the app module, by name (functions and classes)."""
    names = [name for names in MODAL_OBJECTS.values() for name in names]
    out = {name: getattr(module, name) for name in names}
    for name in names:
        expected = modal.Cls if name in CLASSES else modal.Function
        if not isinstance(out[name], expected):
            raise TypeError(f"{name} is a {type(out[name]).__name__}, expected {expected.__name__}")
    return out


def all_settings(module: Any) -> dict[str, dict[str, Any]]:
    return {name: read_settings(obj) for name, obj in app_objects(module).items()}
