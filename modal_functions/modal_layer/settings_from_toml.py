"""# From `modal.toml` to Modal decorator arguments

Every Modal function of the app gets its resources and scaling from one table of
`modal.toml` (validated by `modal_functions.config`, where an unknown key is an
error). This module is the only place that turns a `FunctionConfig` into keyword
arguments for `@app.function` / `@app.cls`, so the mapping is written once.

Names: each capability *kind* is served by one or more Modal objects.

| kind             | Modal objects                                      |
|------------------|----------------------------------------------------|
| api              | `api` (ASGI front door)                            |
| generate_images  | `generate_images`                                  |
| transcribe_audio | `Transcriber` (GPU) + `TranscriberCPU` (short audio) |
| render_video     | `render_video` + `render_chunk` (one call per chunk) |
| diagnostic       | `diagnostic`                                       |

An object of `config.OWN_TABLES` (`render_chunk`) is configured by its own table when
`modal.toml` has one, else by its kind's.
"""

from __future__ import annotations

from typing import Any

from ..config import OWN_TABLES, WEB_TIMEOUT_S, ComputeConfig, FunctionConfig
from ..logs import get_logger
from ..settings import Settings

log = get_logger(__name__)

# kind -> the Modal objects that serve it (first one is the default target of a job)
MODAL_OBJECTS: dict[str, tuple[str, ...]] = {
    "api": ("api",),
    "generate_images": ("generate_images",),
    "transcribe_audio": ("Transcriber", "TranscriberCPU"),
    "render_video": ("render_video", "render_chunk"),
    "diagnostic": ("diagnostic",),
}
CLASSES = frozenset({"Transcriber", "TranscriberCPU"})
# Objects whose failed inputs Modal must NOT retry: `render_video`'s fan-out retries a
# failed chunk alone itself (modal_layer/fanout.py), so Modal's retries would multiply.
NO_MODAL_RETRIES = frozenset({"render_chunk"})

# A sync POST answers 202 with the job this long before the front door's request limit:
# Modal ends a web request at 150 s (a 303 to a result URL) whatever the function's
# timeout, and at the function's timeout if that is shorter. Cut off, the caller would have
# no job id for a job that runs anyway (and, without an idempotency key, submit it again).
SYNC_WAIT_MARGIN_S = 10.0

# The front door's `min_containers` when `[functions.api]` does not set it: one container
# always up, so its cold start never trips the worker's circuit breaker.
API_MIN_CONTAINERS = 1

# Keys of FunctionConfig that are handed to Modal as they are.
SCALING_KEYS = ("min_containers", "max_containers", "buffer_containers", "scaledown_window")


def modal_kwargs(fn: FunctionConfig) -> dict[str, Any]:
    """Decorator keyword arguments for one `[functions.<name>]` table."""
    return {
        "gpu": fn.gpu,
        "cpu": fn.cpu,
        "memory": fn.memory,
        "timeout": fn.timeout,
        "retries": fn.retries,
        **{key: getattr(fn, key) for key in SCALING_KEYS},
    }


def cpu_twin_kwargs(fn: FunctionConfig) -> dict[str, Any]:
    """The CPU twin of a GPU function (Whisper on short audio): no GPU, `cpu_fallback_cpu` cores."""
    kwargs = modal_kwargs(fn)
    kwargs["gpu"] = None
    kwargs["cpu"] = fn.cpu_fallback_cpu or fn.cpu
    return kwargs


def object_kwargs(config: ComputeConfig, object_name: str) -> dict[str, Any]:
    """Keyword arguments for the Modal object `object_name` (see MODAL_OBJECTS)."""
    if object_name == "TranscriberCPU":
        return cpu_twin_kwargs(config.function("transcribe_audio"))
    kind = kind_of(object_name)
    if kind == "api":
        fn = config.functions.get("api") or FunctionConfig(timeout=WEB_TIMEOUT_S)
        if fn.retries:
            raise ValueError("[functions.api] retries must be 0: Modal web functions do not retry")
        kwargs = modal_kwargs(fn)
        del kwargs["retries"]  # not accepted for web functions
        if "min_containers" not in fn.model_fields_set:  # warm unless modal.toml says otherwise (docs/modal.md)
            kwargs["min_containers"] = API_MIN_CONTAINERS
        return kwargs
    own = config.functions.get(object_name) if object_name in OWN_TABLES else None  # `[functions.render_chunk]`
    kwargs = modal_kwargs(own or config.function(kind))
    if object_name in NO_MODAL_RETRIES:
        kwargs["retries"] = 0
    return kwargs


def kind_of(object_name: str) -> str:
    for kind, names in MODAL_OBJECTS.items():
        if object_name in names:
            return kind
    raise KeyError(f"no kind serves the Modal object {object_name!r}")


def expected_settings(config: ComputeConfig) -> dict[str, dict[str, Any]]:
    """What every built Modal object should carry, in the shape `built.read_settings` returns."""
    out: dict[str, dict[str, Any]] = {}
    for names in MODAL_OBJECTS.values():
        for name in names:
            kw = object_kwargs(config, name)
            out[name] = {
                "gpu": kw["gpu"],
                "cpu": kw["cpu"],
                "memory": kw["memory"],
                "timeout": kw["timeout"],
                "retries": kw.get("retries", 0),
                **{key: kw[key] for key in SCALING_KEYS},
            }
    return out


def front_door_settings(settings: Settings, config: ComputeConfig) -> Settings:
    """`settings` with `COMPUTE_SYNC_WAIT_S` (which also caps `?wait=`) ending `SYNC_WAIT_MARGIN_S`
    before the front door's request limit (`[functions.api] timeout`, which `config` keeps at
    or under Modal's `WEB_TIMEOUT_S`; the cap here holds for a config built in code too):
    a longer wait is shortened, with a warning, not refused."""
    request_limit = min(float(object_kwargs(config, "api")["timeout"]), float(WEB_TIMEOUT_S))
    limit = max(0.0, request_limit - SYNC_WAIT_MARGIN_S)
    if settings.sync_wait_s <= limit:
        return settings
    log.warning("COMPUTE_SYNC_WAIT_S shortened under the front door's timeout",
                extra={"configured_s": settings.sync_wait_s, "used_s": limit})
    return settings.model_copy(update={"sync_wait_s": limit})
