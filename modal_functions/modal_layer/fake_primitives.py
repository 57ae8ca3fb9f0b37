"""# A minimal in-process FAKE of the Modal primitives (for tests and local runs only)

Modal cannot be reached here, so the Modal backend is tested against this fake of
exactly what it uses, and nothing more:

- `FakeDict`: `modal.Dict`'s `get / [] / put(skip_if_exists=) / pop / in / keys / items`,
  on a SQLite file so a spawned "container" process sees the same data;
- `FakeFunction.spawn(*args)` -> `FakeFunctionCall`: each attempt runs the plain function
  in a fresh process (a container), retried on an exception or a crash up to `retries`
  times, like Modal's retry policy (without the backoff delay);
- `FakeFunctionCall.get(timeout)`: the result, the remote exception re-raised, builtin
  `TimeoutError` while running, `modal.exception.OutputExpiredError` once `expire()`d;
  `.cancel()` kills the attempt; `FakeFunctionCall.from_id`-style lookup via
  `FakePrimitives.function_call(id)`;
- `FakeAutoscaler`: remembers each object's `min_containers`; `redeploy()` resets them
  to the static values, as a real `modal deploy` does.

It is deliberately not a Modal emulator: no scheduling, no concurrency limits, no
container reuse (each attempt is a cold start).
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import pickle
import shutil
import sqlite3
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

_MISSING = object()
PRELOAD = (
    "modal_functions.modal_layer.runner",
    "modal_functions.runtime.context",
    "modal_functions.runtime.watchdog",
    "modal_functions.capabilities",
    "modal_functions.diagnostic.capability",
    "modal.exception",
)


class FakeDict:
    """`modal.Dict` subset on a SQLite file (values pickled). Safe across processes and threads."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._local = threading.local()
        with self._conn() as db:
            db.execute("create table if not exists kv (k blob primary key, v blob not null)")

    def __getstate__(self):
        return {"path": self.path}

    def __setstate__(self, state):
        self.path = state["path"]
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("pragma journal_mode=wal")
            conn.execute("pragma synchronous=off")  # a test fake: speed over durability
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @staticmethod
    def _k(key: Any) -> bytes:
        return pickle.dumps(key)

    def get(self, key: Any, default: Any = None) -> Any:
        row = self._conn().execute("select v from kv where k = ?", (self._k(key),)).fetchone()
        return pickle.loads(row[0]) if row else default

    def __getitem__(self, key: Any) -> Any:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        self.put(key, value)

    def put(self, key: Any, value: Any, *, skip_if_exists: bool = False) -> bool:
        verb = "insert or ignore" if skip_if_exists else "insert or replace"
        cur = self._conn().execute(f"{verb} into kv (k, v) values (?, ?)", (self._k(key), pickle.dumps(value)))
        return cur.rowcount == 1

    def pop(self, key: Any, default: Any = _MISSING) -> Any:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                raise KeyError(key)
            return default
        self._conn().execute("delete from kv where k = ?", (self._k(key),))
        return value

    def __delitem__(self, key: Any) -> None:
        self.pop(key)

    def __contains__(self, key: Any) -> bool:
        return self.get(key, _MISSING) is not _MISSING

    def keys(self) -> Iterator[Any]:
        for (k,) in self._conn().execute("select k from kv").fetchall():
            yield pickle.loads(k)

    def items(self) -> Iterator[tuple[Any, Any]]:
        for k, v in self._conn().execute("select k, v from kv").fetchall():
            yield pickle.loads(k), pickle.loads(v)

    def len(self) -> int:
        return self._conn().execute("select count(*) from kv").fetchone()[0]


def _attempt(target: Callable[..., Any], args: tuple, conn, tmp: str) -> None:
    """Body of one fake container: run the function, send ("ok", value) or ("err", exception).

    `tmp` is the container's own /tmp: like a real container's disk it is thrown away with
    the container, even when the attempt is killed before its cleanup runs.
    """
    os.environ["TMPDIR"] = tmp
    tempfile.tempdir = tmp
    try:
        outcome: tuple = ("ok", target(*args))
    except BaseException as e:  # noqa: BLE001 - the exception *is* the remote result
        outcome = ("err", e)
    try:
        conn.send(outcome)
    except Exception as e:  # noqa: BLE001 - an unpicklable result/exception
        conn.send(("err", RuntimeError(f"unpicklable outcome: {e!r}")))
    conn.close()


class FakeFunctionCall:
    """One spawned call. A driver thread runs the attempts; `get`/`cancel` observe and stop it."""

    def __init__(self, call_id: str, target: Callable[..., Any], args: tuple, retries: int, mp_context):
        self.object_id = call_id
        self._target, self._args, self._retries, self._mp = target, args, retries, mp_context
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._outcome: tuple | None = None
        self._process = None
        self._cancelled = False
        self._terminated: BaseException | None = None
        self._expired = False
        self.attempts = 0
        self._thread = threading.Thread(target=self._drive, name=f"fake-call-{call_id}", daemon=True)
        self._thread.start()

    def _drive(self) -> None:
        from modal.exception import InternalFailure

        try:
            self._attempts_until_done()
        except Exception as e:  # noqa: BLE001 - the fake itself failed: surface it through get()
            with self._lock:
                self._outcome = ("err", InternalFailure(f"fake could not run the call: {e!r}"))
            self._done.set()

    def _attempts_until_done(self) -> None:
        from modal.exception import InternalFailure

        last: tuple = ("err", InternalFailure("no attempt ran"))
        for _ in range(self._retries + 1):
            reader, writer = self._mp.Pipe(duplex=False)
            tmp = tempfile.mkdtemp(prefix="fake-modal-container-")
            with self._lock:
                if self._cancelled or self._terminated:
                    shutil.rmtree(tmp, ignore_errors=True)
                    break
                self._process = self._mp.Process(target=_attempt, args=(self._target, self._args, writer, tmp), daemon=True)
                self._process.start()
                self.attempts += 1
            writer.close()
            try:
                outcome = reader.recv()
            except EOFError:  # the container died without an answer
                self._process.join()
                outcome = ("err", InternalFailure(f"container crashed (exit code {self._process.exitcode})"))
            finally:
                reader.close()
            self._process.join()
            shutil.rmtree(tmp, ignore_errors=True)
            last = outcome
            if outcome[0] == "ok" or self._cancelled or self._terminated:
                break
        with self._lock:
            if self._terminated is not None:
                last = ("err", self._terminated)
            self._outcome = ("cancelled", None) if self._cancelled else last
        self._done.set()

    def get(self, timeout: float | None = None) -> Any:
        from modal.exception import ExecutionError, OutputExpiredError

        if self._expired:
            raise OutputExpiredError()
        if not self._done.wait(timeout):
            raise TimeoutError()
        kind, value = self._outcome  # type: ignore[misc]
        if kind == "ok":
            return value
        if kind == "cancelled":
            raise ExecutionError("the function call was cancelled")
        raise value

    def cancel(self, terminate_containers: bool = False) -> None:
        with self._lock:
            self._cancelled = True
            if self._process is not None and self._process.is_alive():
                self._process.kill()

    def terminate(self, error: BaseException) -> None:
        """The platform ends the call (e.g. `modal app stop`): running attempts die, get() raises `error`."""
        with self._lock:
            if self._done.is_set():
                return
            self._terminated = error
            if self._process is not None and self._process.is_alive():
                self._process.kill()

    # ## Test controls

    def expire(self) -> None:
        """From now on the output is gone, as after Modal's result retention window."""
        self._done.wait()
        self._expired = True

    def join(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)


class FakeFunction:
    def __init__(self, name: str, target: Callable[..., Any], primitives: "FakePrimitives", retries: int = 0):
        self.name, self.target, self.retries, self._primitives = name, target, retries, primitives

    def spawn(self, *args: Any) -> FakeFunctionCall:
        return self._primitives._spawn(self, args)


class FakeAutoscaler:
    def __init__(self, static: dict[str, int]):
        self.static = dict(static)
        self.current = dict(static)
        self.updates: list[tuple[str, int]] = []

    def set_min_containers(self, object_name: str, min_containers: int) -> None:
        if object_name not in self.current:
            raise KeyError(f"no Modal object {object_name!r}")
        self.current[object_name] = min_containers
        self.updates.append((object_name, min_containers))

    def redeploy(self) -> None:
        """`modal deploy` wipes autoscaler overrides back to the decorator values."""
        self.current = dict(self.static)


class _ControlPlane:
    """Modal's side of one fake app: its calls outlive any backend object (an API container)."""

    def __init__(self, static_min: dict[str, int]):
        self.calls: dict[str, FakeFunctionCall] = {}
        self.ids = itertools.count(1)
        self.autoscaler = FakeAutoscaler(static_min)
        self.mp = multiprocessing.get_context("forkserver")
        # Containers fork from a server that imported the job path once (cheap "cold starts").
        self.mp.set_forkserver_preload(list(PRELOAD))


_PLANES: dict[str, _ControlPlane] = {}


class FakePrimitives:
    """Everything `ModalBackend`/`LeaseBook` need, in-process. `functions`: object name -> (target, retries).

    Two instances on the same `root` are two API containers of one app: they share the
    Dicts (SQLite files) and the control plane (calls, autoscaler).
    """

    def __init__(self, root: str | Path, functions: dict[str, tuple[Callable[..., Any], int]], static_min: dict[str, int] | None = None):
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        self.jobs = FakeDict(root / "jobs.sqlite")
        self.leases = FakeDict(root / "leases.sqlite")
        self.active = FakeDict(root / "active.sqlite")
        self._plane = _PLANES.setdefault(str(root.resolve()), _ControlPlane(static_min or {}))
        self.autoscaler = self._plane.autoscaler
        self._mp = self._plane.mp
        self._functions = {name: FakeFunction(name, target, self, retries) for name, (target, retries) in functions.items()}
        self._calls = self._plane.calls
        self._ids = self._plane.ids
        self.spawned: list[tuple[str, tuple]] = []

    def stop_app(self) -> None:
        """`modal app stop`: every unfinished call is terminated; the Dicts stay."""
        from modal.exception import RemoteError

        calls = list(self._calls.values())
        for call in calls:
            call.terminate(RemoteError("Function call was terminated: the app was stopped"))
        for call in calls:  # like the CLI, return once the app is down
            call.join(30)

    def function(self, object_name: str) -> FakeFunction:
        return self._functions[object_name]

    def _spawn(self, fn: FakeFunction, args: tuple) -> FakeFunctionCall:
        call_id = f"fc-fake{next(self._ids):04d}{uuid.uuid4().hex[:8]}"
        call = FakeFunctionCall(call_id, fn.target, args, fn.retries, self._mp)
        self._calls[call_id] = call
        self.spawned.append((fn.name, args))
        return call

    def function_call(self, call_id: str) -> FakeFunctionCall:
        """`modal.FunctionCall.from_id(call_id)`."""
        try:
            return self._calls[call_id]
        except KeyError:
            from modal.exception import NotFoundError

            raise NotFoundError(f"no function call {call_id}") from None

    def close(self) -> None:
        """Tear the fake app down (tests): kill whatever still runs and forget the control plane."""
        for call in list(self._calls.values()):
            call.cancel()
        for key, plane in list(_PLANES.items()):
            if plane is self._plane:
                del _PLANES[key]


# ## A ModalBackend on the fake, for the shared lifecycle tests


def _fake_container(config: Any, jobs: FakeDict, object_name: str, job: dict[str, Any]) -> dict[str, Any]:
    """What a Modal container of `object_name` does with a spawned job (see app.py)."""
    from .runner import execute
    from .settings_from_toml import object_kwargs

    kw = object_kwargs(config, object_name)
    return execute(job, jobs, resource=kw["gpu"] or f"cpu:{kw['cpu']:g}", config=config, min_interval=0.05)


def fake_backend(root: str | Path, config: Any = None, *, clock: Callable[[], float] | None = None):
    """`ModalBackend` wired to `FakePrimitives`: every Modal object runs `runner.execute` in a fresh process."""
    import functools
    import time

    from ..config import get_config
    from .backend import ModalBackend
    from .settings_from_toml import MODAL_OBJECTS, object_kwargs

    config = config or get_config()
    names = [name for kind, objs in MODAL_OBJECTS.items() if kind != "api" for name in objs]
    primitives = FakePrimitives(root, {}, {name: object_kwargs(config, name)["min_containers"] for name in names})
    for name in names:
        target = functools.partial(_fake_container, config, primitives.jobs, name)
        primitives._functions[name] = FakeFunction(name, target, primitives, object_kwargs(config, name)["retries"])
    return ModalBackend(config, primitives, clock=clock or time.time, wait_slice=0.2)
