"""`canvascast serve`: the in-house compute plane on 127.0.0.1:${COMPUTE_PORT:-8000}."""

from __future__ import annotations

import argparse
import socket
import logging
import os
import sys

from ..logs import get_logger, setup_logging


def _port(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"{text} is not a TCP port (1-65535)")  # uvicorn wrapped 70000 to 4464
    return value


LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the compute plane HTTP API (in-house backend)")
    p.add_argument("--host", default=None, help="default: COMPUTE_HOST or 127.0.0.1")
    p.add_argument("--port", type=_port, default=None, help="default: COMPUTE_PORT or 8000")
    p.add_argument("--backend-name", choices=["inhouse", "modal"], default=None,
                   help="name reported in jobs and /health (modal: a local stand-in for the Modal deployment)")
    p.add_argument("--kinds", default=os.environ.get("COMPUTE_KINDS", ""),
                   help="comma-separated kinds to run pools for (default COMPUTE_KINDS, else all)")
    p.add_argument("--fault-injection", action="store_true", help="same as COMPUTE_FAULT_INJECTION=1: mount POST /v1/_faults")
    p.add_argument("--no-access-log", action="store_true", help="skip one log line per request")
    p.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS,
                   default=os.environ.get("LOG_LEVEL", "INFO").upper(), help="default: LOG_LEVEL or INFO")
    p.set_defaults(func=serve)


class _DropColor(logging.Filter):
    """uvicorn attaches an ANSI-coloured copy of each message; JSON logs don't want it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.__dict__.pop("color_message", None)
        return True


def exit_with_parent() -> bool:
    """Ask Linux to SIGTERM this server when the process that started it dies (even by SIGKILL).

    For a server started by a test run or the demo in its own process group (so it can be
    killed as a group): without it, a killed runner orphaned the server, which kept its port
    and its data dir. Returns False where the call is unavailable."""
    import ctypes
    import signal as signals

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, int(signals.SIGTERM)) != 0:  # PR_SET_PDEATHSIG
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() == 1:  # the parent died before the call: nobody is left to wait for us
        os.kill(os.getpid(), signals.SIGTERM)
    return True


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ..settings import get_settings
    from .main import ConfigurationError, create_app
    from .transport import MAX_HEADER_BYTES, JsonErrorH11Protocol

    # argparse checks --log-level against its choices, never the default from LOG_LEVEL.
    if args.log_level.upper() not in LOG_LEVELS:
        print(f"canvascast serve: error [config]: LOG_LEVEL={args.log_level!r} is not one of {', '.join(LOG_LEVELS)}",
              file=sys.stderr)
        return 2
    setup_logging(args.log_level.upper())
    if os.environ.get("CANVASCAST_EXIT_WITH_PARENT") == "1":
        exit_with_parent()
    os.environ.setdefault("CANVASCAST_LOG_LEVEL", args.log_level.upper())  # the pool workers' level
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).addFilter(_DropColor())
    log = get_logger("canvascast.serve")
    # The flags win over COMPUTE_HOST/COMPUTE_PORT everywhere, not only for the socket:
    # signed artifact URLs (and the pool workers, which inherit the environment) use them.
    if args.host:
        os.environ["COMPUTE_HOST"] = args.host
    if args.port is not None:
        os.environ["COMPUTE_PORT"] = str(args.port)
    get_settings.cache_clear()
    settings = get_settings()
    host, port = settings.host, settings.port
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()] or None
    # What would otherwise fail inside uvicorn's startup, as a JSON log line and exit 3,
    # is one plain line and exit 2 here.
    problem = _startup_problem(settings, kinds)
    if problem is not None:
        log.error(problem)
        print(f"canvascast serve: {problem}", file=sys.stderr)
        return 2
    try:
        app = create_app(settings, backend_name=args.backend_name,
                         faults_enabled=True if args.fault_injection else None, kinds=kinds)
    except ConfigurationError as e:
        log.error(str(e))
        print(f"canvascast serve: {e}", file=sys.stderr)
        return 2
    try:
        sock = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as e:
        print(f"canvascast serve: error [cannot_listen]: {host}:{port}: {e.strerror or e}", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,  # keep our JSON handler on the root logger
        access_log=not args.no_access_log,
        timeout_graceful_shutdown=5,
        lifespan="on",
        http=JsonErrorH11Protocol,  # bounded headers, parser refusals in the error shape (transport.py)
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
    )
    server = uvicorn.Server(config)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM only; cli.main's SIGHUP handler would
    # raise SystemExit inside the event loop (a logged traceback): a SIGHUP is a SIGTERM here.
    import signal

    signal.signal(signal.SIGHUP, lambda _signum, frame: server.handle_exit(signal.SIGTERM, frame))
    log.info("starting compute plane", extra={"host": host, "port": port, "backend_name": args.backend_name or settings.backend})
    server.run(sockets=[sock])
    return 0 if server.started else 1


def _startup_problem(settings, kinds: list[str] | None) -> str | None:
    """A reason this server cannot start (unknown kinds, bad modal.toml, data dir in use), or None."""
    import fcntl

    from ..config import ConfigError, get_config
    from ..contract.jobs import KINDS
    from ..runtime.inhouse import REGISTRY_FILE

    unknown = sorted(set(kinds or []) - set(KINDS))
    if unknown:
        return f"error [unknown_kind]: {', '.join(unknown)} (have: {', '.join(KINDS)})"
    try:
        get_config()
    except (ConfigError, OSError) as e:
        return f"error [config]: {' '.join(str(e).split())[:300]}"
    lock = settings.data_dir / (REGISTRY_FILE + ".lock")  # the registry's own lock, tried and let go
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return (f"error [data_dir_in_use]: {settings.data_dir} is used by another running canvascast server "
                    "(one server per data dir: stop it or set CANVASCAST_DATA_DIR)")
    # A job registry that is not a database (corrupt, a folder) fails inside the app's
    # startup with a traceback: try to read it here (only if it exists: connect creates one).
    registry = settings.data_dir / REGISTRY_FILE
    if os.path.lexists(registry):
        import sqlite3
        from contextlib import closing

        try:
            with closing(sqlite3.connect(registry, timeout=10)) as db:
                db.execute("PRAGMA schema_version").fetchone()
        except sqlite3.Error as e:
            return (f"error [bad_registry]: {registry}: {e} "
                    "(move it away to start with an empty job list, or set CANVASCAST_DATA_DIR)")
    return None
