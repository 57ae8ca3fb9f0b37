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


# ## Environment and Secrets of a built function


def function_secrets(obj: Any) -> list[Any]:
    """The private `_Secret`s a built function (or a class's service function) will be given."""
    return list(_loader_cells(_service_function(obj)).get("secrets") or ())


def function_env(obj: Any) -> dict[str, str]:
    """The environment set by the decorator's `env=` (Modal turns it into `Secret.from_dict`)."""
    out: dict[str, str] = {}
    for secret in function_secrets(obj):
        cells = _loader_cells(secret)
        if "load_env_dict" in cells:
            out.update(cells["load_env_dict"]())
    return out


def secret_required_keys(obj: Any) -> dict[str, list[str]]:
    """Named Secret -> the keys Modal checks exist on it when the app is deployed (`required_keys`)."""
    out: dict[str, list[str]] = {}
    for secret in function_secrets(obj):
        cells = _loader_cells(secret)
        if "name" in cells:
            out[cells["name"]] = list(cells.get("required_keys") or ())
    return out


# ## What an image will build


def image_layers(image: Any, builder_version: str = "2025.06") -> list[dict[str, Any]]:
    """Every layer of `image`, base first, as Modal's image builder `builder_version` would build it.

    Each layer is `{"commands": [...Dockerfile lines...], "build_env": {...}, "mounts": [...]}`;
    `build_env` is what `apt_install(env=...)`/`run_commands(env=...)` put in the build
    environment only. Nothing is sent to Modal: the layers' Dockerfile functions are pure.
    """
    raw = synchronizer._translate_in(image)
    cells = _loader_cells(raw)
    layers: list[dict[str, Any]] = []
    if "split_image" in cells:  # Image.from_registry(..., add_python=): one layer or two by builder version
        chosen = cells["split_image"] if builder_version > "2025.06" else cells["single_layer_image"]
        return image_layers(chosen, builder_version)
    for base in (cells.get("base_images") or {}).values():
        layers += image_layers(base, builder_version)
    if cells.get("base_image") is not None:
        layers += image_layers(cells["base_image"], builder_version)
    if cells.get("mount") is not None:
        layers.append({"commands": [], "build_env": {}, "mounts": [cells["mount"]]})
    if cells.get("dockerfile_function") is not None:
        build_env: dict[str, str] = {}
        for secret in cells.get("secrets") or ():
            secret_cells = _loader_cells(secret)
            if "load_env_dict" in secret_cells:
                build_env.update(secret_cells["load_env_dict"]())
        spec = cells["dockerfile_function"](builder_version)
        layers.append({"commands": list(spec.commands), "build_env": build_env, "mounts": []})
    return layers


def apt_packages(image: Any, builder_version: str = "2025.06") -> list[str]:
    """Every package an `apt-get install` line of the image installs."""
    out: list[str] = []
    for layer in image_layers(image, builder_version):
        for command in layer["commands"]:
            words = command.split()
            if "apt-get" in words and "install" in words:
                out += [w for w in words[words.index("install") + 1:] if not w.startswith("-") and w not in ("&&",)]
    return out
