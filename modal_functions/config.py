"""`modal.toml`: per-function resources, scaling, in-house pool sizes and prices.

Validated at load. An unknown key anywhere is an error, so a typo never silently
falls back to a default. The file is found at `$CANVASCAST_MODAL_TOML`, else at
the repository root (or /root/modal.toml inside a Modal container).
"""

from __future__ import annotations

import os
import tomllib
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

GpuName = Literal["T4", "L4", "A10G", "A100", "H100"]
FUNCTION_KINDS = ("generate_images", "transcribe_audio", "render_video", "diagnostic")
# Modal objects that may have a `[functions.<name>]` table of their own (no kind, no in-house
# pool); without one they take their kind's table (modal_layer/settings_from_toml.py).
OWN_TABLES = {"render_chunk": "render_video"}
# Keys such a table cannot use: `render_chunk` runs no job (no watchdog, no Whisper) and has no
# Modal retries (`render_video`'s fan-out retries a chunk alone itself), so they would be ignored.
NOT_FOR_OWN_TABLES = ("retries", "stall_timeout", "gpu_min_audio_seconds", "cpu_fallback_cpu")
WEB_TIMEOUT_S = 150  # Modal ends a web request after this long, whatever the function's timeout


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AppConfig(_Strict):
    name: str = "canvascast"
    volume: str = "canvascast-cache"
    secret: str = "canvascast-secrets"


class Prices(_Strict):
    cpu_core: float = Field(ge=0)
    memory_gib: float = Field(ge=0)
    inhouse_worker: float = Field(default=0.0, ge=0)
    gpu: dict[GpuName, float] = Field(default_factory=dict)


class FunctionConfig(_Strict):
    gpu: GpuName | None = None
    cpu: float = Field(default=1.0, gt=0, le=64)
    memory: int = Field(default=1024, ge=128, le=262_144, description="MiB")
    timeout: int = Field(default=300, ge=1, le=24 * 3600, description="Hard timeout, seconds.")
    retries: int = Field(default=0, ge=0, le=10)
    stall_timeout: float | None = Field(default=None, gt=0, description="Seconds without a heartbeat before `stalled`.")
    min_containers: int = Field(default=0, ge=0, le=100)
    max_containers: int = Field(default=10, ge=1, le=1000)
    buffer_containers: int = Field(default=0, ge=0, le=100)
    scaledown_window: int = Field(default=60, ge=2, le=3600)
    gpu_min_audio_seconds: float | None = Field(default=None, ge=0)
    cpu_fallback_cpu: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _bounds(self) -> "FunctionConfig":
        if self.min_containers > self.max_containers:
            raise ValueError("min_containers exceeds max_containers")
        if self.stall_timeout is not None and self.stall_timeout >= self.timeout:
            raise ValueError(f"stall_timeout ({self.stall_timeout:g} s) must be below timeout ({self.timeout} s), or a stall is never seen")
        return self


class PoolConfig(_Strict):
    workers: int = Field(default=1, ge=1, le=64)
    queue: int = Field(default=8, ge=0, le=10_000)
    preload: bool = False


class ComputeConfig(_Strict):
    app: AppConfig = Field(default_factory=AppConfig)
    prices: Prices
    functions: dict[str, FunctionConfig]
    inhouse: dict[str, PoolConfig]

    @model_validator(mode="before")
    @classmethod
    def _api_timeout(cls, data: Any) -> Any:
        """`[functions.api]` without `timeout` gets `WEB_TIMEOUT_S`, as a missing table does
        (settings_from_toml): the functions' 300 s default is more than a web endpoint may have."""
        functions = data.get("functions") if isinstance(data, dict) else None
        api = functions.get("api") if isinstance(functions, dict) else None
        if isinstance(api, dict) and "timeout" not in api:
            data = {**data, "functions": {**functions, "api": {**api, "timeout": WEB_TIMEOUT_S}}}
        return data

    @model_validator(mode="after")
    def _known_kinds(self) -> "ComputeConfig":
        for section, table in (("functions", self.functions), ("inhouse", self.inhouse)):
            allowed = set(FUNCTION_KINDS) | ({"api", *OWN_TABLES} if section == "functions" else set())
            unknown = set(table) - allowed
            if unknown:
                raise ValueError(f"[{section}] has unknown function(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
        for name in OWN_TABLES:
            ignored = sorted(set(NOT_FOR_OWN_TABLES) & self.functions[name].model_fields_set) if name in self.functions else []
            if ignored:
                raise ValueError(f"[functions.{name}] cannot set {ignored}: they do not apply to it")
        missing = set(FUNCTION_KINDS) - set(self.functions)
        if missing:
            raise ValueError(f"[functions] is missing {sorted(missing)}")
        unpriced = sorted({fn.gpu for fn in self.functions.values() if fn.gpu} - set(self.prices.gpu))
        if unpriced:  # a missing price would bill GPU seconds as CPU only
            raise ValueError(f"[prices.gpu] has no price for {unpriced}, used in [functions]")
        api = self.functions.get("api")
        if api is not None and (api.retries != 0 or api.timeout > WEB_TIMEOUT_S):
            raise ValueError(f"[functions.api] is a web endpoint: retries must be 0 and timeout at most {WEB_TIMEOUT_S} s "
                             "(Modal cuts web requests there)")
        return self

    def function(self, kind: str) -> FunctionConfig:
        return self.functions[kind]

    def pool(self, kind: str) -> PoolConfig:
        return self.inhouse.get(kind, PoolConfig())

    def usd(self, kind: str, seconds: float, *, backend: str, gpu: str | None = None, cpu: float | None = None) -> float:
        """Price `seconds` of `kind` on `backend` from the price table."""
        if backend == "inhouse":
            return round(seconds * self.prices.inhouse_worker, 8)
        fn = self.functions[kind]
        gpu = gpu if gpu is not None else fn.gpu
        cores = cpu if cpu is not None else fn.cpu
        rate = self.prices.cpu_core * cores + self.prices.memory_gib * fn.memory / 1024
        if gpu:
            rate += self.prices.gpu.get(gpu, 0.0)
        return round(seconds * rate, 8)


class ConfigError(ValueError):
    pass


def default_path() -> Path:
    env = os.environ.get("CANVASCAST_MODAL_TOML")
    if env:
        return Path(env)
    for candidate in (Path(__file__).resolve().parent.parent / "modal.toml", Path("/root/modal.toml")):
        if candidate.exists():
            return candidate
    return Path("modal.toml")


def load_config(path: str | Path | None = None) -> ComputeConfig:
    p = Path(path) if path else default_path()
    try:
        data = tomllib.loads(p.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot read {p}: {e}") from e
    try:
        return ComputeConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"invalid {p}:\n{e}") from e


@cache
def get_config() -> ComputeConfig:
    return load_config()
