"""What a capability is: plain code with a heavy state loaded once, and a run per job.

The in-house pool workers and the Modal functions both call exactly this. A
capability never knows which backend runs it: it talks to a `TaskContext`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from pydantic import BaseModel

if TYPE_CHECKING:
    from .runtime.parts import PartsClient
    from .storage.base import ArtifactStore


class TaskContext(Protocol):
    """Handed to `Capability.run`. Every call is cheap; call `heartbeat` at least every few seconds."""

    job_id: str
    attempt: int
    workdir: Path  # private temp dir, removed by the runtime on every path
    store: "ArtifactStore"
    parts: "PartsClient | None"  # this pool's idle workers (runtime/parts.py); None off the in-house pool

    def progress(self, done: float, total: float | None = None, unit: str | None = None, message: str | None = None) -> None: ...

    def heartbeat(self) -> None: ...

    def fetch_input(self, ref: str, suffix: str = "") -> Path:
        """Resolve an artifact key, signed URL or safe https URL to a local file in `workdir`."""
        ...


@dataclass(frozen=True)
class Capability:
    kind: str
    request_model: type[BaseModel]
    result_model: type[BaseModel]
    load: Callable[[], Any]
    """Heavy state (model, bundle, browser): called once per warm worker."""
    run: Callable[[Any, BaseModel, TaskContext], BaseModel]
    """One job. Raise `CapabilityError` for coded failures."""
    validate: Callable[[BaseModel], None] | None = None
    """Cheap checks at submission time (raise CapabilityError with a 4xx http_status)."""
    close: Callable[[Any], None] | None = None
    """Release the heavy state (e.g. stop a sidecar) when a worker shuts down cleanly."""
    run_part: Callable[[Any, dict[str, Any], TaskContext], dict[str, Any]] | None = None
    """One piece of another worker's job (a render chunk), handed over by `parts.fan_out`."""
    refs: Callable[[BaseModel], dict[str, str]] | None = None
    """The input references a request will fetch (ref -> what it is for), checked at submission
    by `storage.inputs.precheck_refs`, so a ref the fetch would refuse never takes a queue slot."""
