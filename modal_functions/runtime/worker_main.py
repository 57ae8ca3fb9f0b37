"""# A pool worker process: load the heavy state once, then serve jobs until told to stop.

Started by `process.WorkerProcess` as `python -m modal_functions.runtime.worker_main IN_FD OUT_FD`
in its own session (so the parent can SIGKILL the worker and everything it started
with one `os.killpg`). It talks to the parent over two pipes with
`multiprocessing.connection.Connection` (pickled tuples):

    parent -> worker                       worker -> parent
    ("init", {kind, settings, store})      ("ready", pid)
    ("load",)                              ("hb",) ... ("loaded", loads) | ("load_failed", error)
    ("run", job_id, attempt, input, dir)   ("hb",) / ("progress", {...}) ... ("done", result, cold, loaded)
                                                                           | ("error", error, cold, loaded)
    ("part", part_id, attempt, spec, dir)  the same replies, from `Capability.run_part` (parts.py)
    ("parts_reply", ...), ("part_update", ...)   <- answers to a running job's ("parts", ...) requests
    ("stop",)                              (exits 0 after `Capability.close`)

One reader thread owns the inbound pipe: it hands parts traffic to the running job's
`PartsClient` and queues everything else for the main loop.

`error` is a `{code, message, retryable}` dict. A worker whose parent goes away
(pipe EOF, or re-parented) kills the job's helpers, even those in sessions of their
own, and its own process group at once, even mid-job.
"""

from __future__ import annotations

import gc
import os
import queue
import signal
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable

from ..errors import INTERNAL, VALIDATION_ERROR, CapabilityError, describe_crash
from ..logs import get_logger, setup_logging
from .context import RuntimeContext
from .parts import PartsClient
from .progress import PipeSink
from .watchdog import MARK_VAR, kill_descendants, kill_marked

log = get_logger("canvascast.worker")

LOAD_HEARTBEAT_S = 0.5  # loading heavy state is work: keep the watchdog fed meanwhile


class Worker:
    def __init__(self, kind: str, send, settings: Any = None, store: Any = None):
        from ..capabilities import get_capability

        self.kind = kind
        self.send = send
        self.settings = settings
        self.store = store
        self.capability = get_capability(kind)
        self.state: Any = None
        self.loaded = False
        self.loads = 0
        self.parts = PartsClient(send)

    def ensure_loaded(self) -> bool:
        """Load the heavy state if not loaded yet; returns True when this call loaded it."""
        if self.loaded:
            return False
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(LOAD_HEARTBEAT_S):
                self.send(("hb",))

        beater = threading.Thread(target=beat, name="load-heartbeat", daemon=True)
        beater.start()
        try:
            self.state = self.capability.load()
        finally:
            stop.set()
            beater.join()
        self.loaded = True
        self.loads += 1
        return True

    def load(self) -> None:
        try:
            self.ensure_loaded()
        except BaseException as e:  # noqa: BLE001 - reported, worker keeps serving
            self.send(("load_failed", _error_dict(e)))
            return
        self.send(("loaded", self.loads))

    def _context(self, job_id: str, attempt: int, workdir: str, parts: PartsClient | None) -> RuntimeContext:
        return RuntimeContext(
            job_id=job_id,
            attempt=attempt,
            workdir=Path(workdir),
            sink=PipeSink(self.send),
            settings=self.settings,
            store=self.store,
            parts=parts,
        )

    def run(self, job_id: str, attempt: int, input: dict[str, Any], workdir: str) -> None:
        def body() -> dict[str, Any]:
            try:
                request = self.capability.request_model.model_validate(input)
            except Exception as e:  # pydantic.ValidationError
                raise CapabilityError(VALIDATION_ERROR, str(e), http_status=422) from e
            self.parts.reset()
            ctx = self._context(job_id, attempt, workdir, self.parts)
            try:
                result = self.capability.run(self.state, request, ctx)
            finally:
                ctx.reporter.settle()  # progress another thread is still sending goes out before done/error
            ctx.reporter.flush()
            if not isinstance(result, self.capability.result_model):
                result = self.capability.result_model.model_validate(result)  # a bug here is an internal error
            return result.model_dump(mode="json")

        self._answer(job_id, "job", body)

    def run_part(self, part_id: str, attempt: int, spec: dict[str, Any], workdir: str) -> None:
        """One piece of another worker's job (parts.py): `Capability.run_part`, a JSON-able dict back."""
        def body() -> dict[str, Any]:
            if self.capability.run_part is None:
                raise CapabilityError(INTERNAL, f"{self.kind} has no parts")
            ctx = self._context(part_id, attempt, workdir, None)  # a part has no parts of its own
            try:
                result = self.capability.run_part(self.state, spec, ctx)
            finally:
                ctx.reporter.settle()
            ctx.reporter.flush()
            return result

        self._answer(part_id, "part", body)

    def _answer(self, job_id: str, what: str, body: Callable[[], dict[str, Any]]) -> None:
        """Load if needed, run `body`, and send ("done", ...) or a coded ("error", ...)."""
        cold = False
        try:
            cold = self.ensure_loaded()
            payload = body()
        except BaseException as e:  # noqa: BLE001 - every failure becomes a coded error
            if not isinstance(e, CapabilityError):
                log.error(f"{what} raised", extra={"job_id": job_id, "kind": self.kind, "traceback": traceback.format_exc()})
            self.send(("error", _error_dict(e), cold, self.loaded))
            return
        self.send(("done", payload, cold, self.loaded))

    def close(self) -> None:
        if self.loaded and self.capability.close is not None:
            try:
                self.capability.close(self.state)
            except Exception:  # noqa: BLE001
                log.exception("capability close failed", extra={"kind": self.kind})
        self.state = None
        self.loaded = False
        gc.collect()


def _error_dict(e: BaseException) -> dict[str, Any]:
    if isinstance(e, CapabilityError):
        return {"code": e.code, "message": e.message, "retryable": e.retryable}
    return {"code": INTERNAL, "message": describe_crash(e), "retryable": False}


def _die_with_parent(parent_pid: int) -> None:
    """A worker never outlives the server: when re-parented, die (the pipe's EOF usually told us first)."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            _die()


def _die() -> None:
    """The server is gone: kill what the job started, then our group (us included), now, even mid-job.

    Our group holds us and most helpers; a helper in a session of its own (Remotion's detached
    chromium) is not in it, so it is killed first, found below us or by our mark, as the
    server's `WorkerProcess.kill` would have done."""
    try:
        kill_descendants()
        if mark := os.environ.get(MARK_VAR):
            kill_marked(mark)
    finally:
        os.killpg(os.getpgid(0), signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    setup_logging(os.environ.get("CANVASCAST_LOG_LEVEL", "INFO"))
    conn_in = Connection(int(argv[0]), writable=False)
    conn_out = Connection(int(argv[1]), readable=False)
    lock = threading.Lock()

    def send(message: tuple) -> None:
        with lock:
            conn_out.send(message)

    threading.Thread(target=_die_with_parent, args=(os.getppid(),), name="parent-watch", daemon=True).start()
    try:
        op, init = conn_in.recv()
        assert op == "init", op
        worker = Worker(init["kind"], send, settings=init.get("settings"), store=init.get("store"))
        inbox: queue.Queue = queue.Queue()
        threading.Thread(target=_read, args=(conn_in, inbox, worker.parts), name="pipe-reader", daemon=True).start()
        send(("ready", os.getpid()))
        while True:
            message = inbox.get()
            if message is None:
                return 0  # parent went away
            op = message[0]
            if op == "run":
                worker.run(*message[1:])
            elif op == "part":
                worker.run_part(*message[1:])
            elif op == "load":
                worker.load()
            elif op == "stop":
                worker.close()
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(0)  # skip interpreter teardown: the heavy state is already closed
            else:
                log.error("unknown message", extra={"op": op})
    except (EOFError, BrokenPipeError, ConnectionResetError):
        return 0  # parent went away


def _read(conn: Connection, inbox: queue.Queue, parts: PartsClient) -> None:
    """The only reader of the inbound pipe: parts traffic to the running job, the rest to the main loop.

    EOF means the server is gone: it closes its end only by dying (its `kill` SIGKILLs us first).
    A job still running here would go on writing into a work dir a restarted server has already
    swept, so the worker dies at once rather than when the job ends."""
    try:
        while True:
            message = conn.recv()
            if message[0] in ("parts_reply", "part_update"):
                parts.deliver(message)
            else:
                inbox.put(message)
    except (EOFError, OSError):
        # Die first: handed the None, an idle main loop would return and end the process
        # while this daemon thread was still killing the job's helpers.
        try:
            _die()
        finally:  # reached only if the kill itself failed: the main loop still ends
            parts.close()
            inbox.put(None)


if __name__ == "__main__":
    sys.exit(main())
