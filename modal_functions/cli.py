"""`canvascast`: the command line. Each domain registers its own subcommands."""

from __future__ import annotations

import argparse
import importlib
import os
import select
import signal
import sys

# Each module exposes `register(subparsers)`; a subcommand sets `func(args) -> int`.
_COMMAND_MODULES = [
    "modal_functions.api.commands",
    "modal_functions.contract.export",
    "modal_functions.storage.commands",
    "modal_functions.images.commands",
    "modal_functions.align.commands",
    "modal_functions.render.commands",
    "modal_functions.modal_layer.commands",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="canvascast", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # that domain has no commands yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand. Whatever it lets escape becomes one stderr line, never a traceback:
    exit 2 for bad input (a 4xx code, a file that cannot be read), 1 for failures, 130 for
    Ctrl-C. CANVASCAST_DEBUG=1 re-raises instead."""
    # A .env that cannot be read (not UTF-8, a folder) must not break every command with a
    # traceback, --help included: parse first, then report it as the command's one line.
    try:
        load_dotenv()
        dotenv_error = None
    except (OSError, UnicodeDecodeError) as e:
        dotenv_error = e
    args = build_parser().parse_args(argv)
    prog = f"canvascast {args.command}"
    if dotenv_error is not None:
        code, message, status = describe_error(dotenv_error)
        print(f"{prog}: error [{code}]: .env: {message}", file=sys.stderr)
        return status
    # SIGTERM (timeout, systemd, CI) and SIGHUP (closed terminal, ssh dropped) unwind like
    # Ctrl-C, so the commands' finally blocks remove their temp dirs and stop their sidecars
    # (`serve` installs uvicorn's own handler).
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: sys.exit(128 + signum))
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # here, not at exit: a closed pipe is then handled below, quietly
        return status
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if isinstance(e, BrokenPipeError) and _stdout_closed():
            # `canvascast ... | head`: the reader has gone, which is not our error. Point
            # stdout at /dev/null so the exit-time flush stays quiet too; 141 = 128 + SIGPIPE.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 141
        if os.environ.get("CANVASCAST_DEBUG") == "1":
            raise
        code, message, status = describe_error(e)
        print(f"{prog}: error [{code}]: {message}", file=sys.stderr)
        return status


def _stdout_closed() -> bool:
    """Whether stdout is a pipe nobody reads any more (poll says POLLERR), so that a
    BrokenPipeError from some other pipe (a sidecar's) is still reported."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _fd, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no fileno (captured), no poll
        return False


def load_dotenv(path: str = ".env") -> None:
    """Every variable of a `.env` in the working directory, for the whole process and the
    workers it starts, not only `Settings`' own fields (LOG_LEVEL, COMPUTE_KINDS, ALIGN_*,
    RENDER_* are read from the environment). The real environment wins."""
    from dotenv import load_dotenv as load

    load(path, override=False)


def describe_error(e: Exception) -> tuple[str, str, int]:
    """(code, one-line message, exit status) for an exception a command let escape."""
    from pydantic import ValidationError

    from .config import ConfigError
    from .errors import CapabilityError

    if isinstance(e, CapabilityError):
        return e.code, e.message, 2 if 400 <= e.http_status < 500 else 1
    if isinstance(e, ValidationError):
        from .runtime.inhouse import validation_message

        # A bad environment variable (COMPUTE_PORT=70000) is configuration, not command input.
        return "config" if e.title == "Settings" else "invalid_value", validation_message(e), 2
    if isinstance(e, ConfigError):
        return "config", " ".join(str(e).split())[:300], 2
    if isinstance(e, OSError):
        where = f": {e.filename}" if e.filename else ""
        return type(e).__name__, f"{e.strerror or e}{where}", 2
    if isinstance(e, UnicodeDecodeError):
        return "bad_encoding", f"not UTF-8 text ({e.reason} at byte {e.start})", 2
    return "internal", f"{type(e).__name__}: {e} (CANVASCAST_DEBUG=1 for a traceback)", 1


if __name__ == "__main__":
    sys.exit(main())
