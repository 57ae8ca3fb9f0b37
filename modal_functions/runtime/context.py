"""# The concrete `TaskContext`: what a capability's `run()` talks to.

`RuntimeContext` works anywhere a job body runs: it reports through a
`progress.Reporter` (pipe to the pool parent, a `modal.Dict`, a callback) and resolves
inputs with `fetch_input(ref)`:

- an artifact key, a signed URL of our own store or a safe https URL ->
  `storage.inputs.fetch_input` (the one resolver for job inputs);
- a local file path, only when the context was made with `allow_local_paths=True` (CLI).

`LocalTaskContext` is the same thing for the CLI and tests: progress goes to a
callback and the workdir is a temp dir removed when the context exits.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..contract.jobs import Progress
from ..errors import BAD_REQUEST, CapabilityError
from ..fetch import split_url
from .progress import CallbackSink, ProgressSink, Reporter
from .watchdog import Watchdog

if TYPE_CHECKING:
    from ..settings import Settings
    from .parts import PartsClient
    from ..storage.base import ArtifactStore

ARTIFACT_PREFIXES = ("artifacts/", "renders/")


class RuntimeContext:
    """`TaskContext` for pool workers (and the Modal layer, with another sink)."""

    def __init__(
        self,
        *,
        job_id: str,
        attempt: int,
        workdir: Path,
        sink: ProgressSink,
        settings: "Settings | None" = None,
        store: "ArtifactStore | None" = None,
        store_factory: Callable[[], "ArtifactStore"] | None = None,
        watchdog: Watchdog | None = None,
        allow_local_paths: bool = False,
        min_interval: float = 0.2,
        parts: "PartsClient | None" = None,
    ):
        self.job_id = job_id
        self.parts = parts  # idle workers of the same pool (in-house pool workers only)
        self.attempt = attempt
        self.workdir = Path(workdir)
        self._settings = settings
        self._store = store
        self._store_factory = store_factory
        self.allow_local_paths = allow_local_paths
        self.reporter = Reporter(sink, watchdog=watchdog, min_interval=min_interval)
        self._names = itertools.count(1)

    # ## Reporting

    def progress(self, done: float, total: float | None = None, unit: str | None = None, message: str | None = None) -> None:
        self.reporter.progress(done, total, unit, message)

    def heartbeat(self) -> None:
        self.reporter.heartbeat()

    @property
    def last_progress(self) -> Progress:
        return self.reporter.last

    # ## Lazily built dependencies

    @property
    def settings(self) -> "Settings":
        if self._settings is None:
            from ..settings import get_settings

            self._settings = get_settings()
        return self._settings

    @property
    def store(self) -> "ArtifactStore":
        if self._store is None:
            if self._store_factory is not None:
                self._store = self._store_factory()
            else:
                from ..storage import get_store

                self._store = get_store(self.settings)
        return self._store

    # ## Inputs

    def _dest(self, suffix: str) -> Path:
        return self.workdir / f"input-{next(self._names)}{suffix}"

    def fetch_input(self, ref: str, suffix: str = "") -> Path:
        if not isinstance(ref, str) or not ref.strip():
            raise CapabilityError(BAD_REQUEST, "input reference must be a non-empty string", http_status=422)
        self.workdir.mkdir(parents=True, exist_ok=True)
        # With local paths allowed, an existing file wins over the artifact key of the same
        # spelling: a project folder named artifacts/ is the likelier meaning on this machine.
        if self.allow_local_paths and "://" not in ref and (
            not ref.startswith(ARTIFACT_PREFIXES) or Path(ref).expanduser().is_file()
        ):
            path = Path(ref).expanduser()
            if not path.is_file():  # name what is there: "no such file" for a folder misleads
                if path.is_dir():
                    message = f"{ref} is a folder, not a file"
                elif path.exists():
                    message = f"{ref} is not a regular file (a fifo or a device)"
                else:
                    message = f"no such file: {ref}"
                raise CapabilityError(BAD_REQUEST, message, http_status=422)
            dest = self._dest(suffix or path.suffix)
            shutil.copyfile(path, dest)
            return dest
        from ..storage.inputs import fetch_input

        dest = self._dest(suffix or _ext_of(split_url(ref).path))
        return fetch_input(ref, dest, store=self.store, settings=self.settings)


def _ext_of(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""


class LocalTaskContext(RuntimeContext):
    """For the CLI and tests: progress to a callback, a private temp workdir removed on exit.

        with LocalTaskContext(on_progress=bar.update, allow_local_paths=True) as ctx:
            result = capability.run(state, request, ctx)
    """

    def __init__(
        self,
        *,
        job_id: str = "local",
        attempt: int = 1,
        on_progress: Callable[[Progress], Any] | None = None,
        on_heartbeat: Callable[[], Any] | None = None,
        workdir: Path | None = None,
        settings: "Settings | None" = None,
        store: "ArtifactStore | None" = None,
        allow_local_paths: bool = True,
        watchdog: Watchdog | None = None,
        min_interval: float = 0.0,
    ):
        self._owns_workdir = workdir is None
        workdir = Path(tempfile.mkdtemp(prefix=f"canvascast-{job_id}-")) if workdir is None else Path(workdir)
        super().__init__(
            job_id=job_id,
            attempt=attempt,
            workdir=workdir,
            sink=CallbackSink(on_progress, on_heartbeat),
            settings=settings,
            store=store,
            watchdog=watchdog,
            allow_local_paths=allow_local_paths,
            min_interval=min_interval,
        )

    def close(self) -> None:
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "LocalTaskContext":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
