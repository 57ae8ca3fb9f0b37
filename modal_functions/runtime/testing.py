"""Helpers for tests of any backend: a copy of modal.toml with test-sized timeouts.

    path = write_config(tmp_path / "modal.toml", functions={"diagnostic": {"stall_timeout": 1}})
    backend = InHouseBackend(load_config(path), settings)          # in-process
    env["CANVASCAST_MODAL_TOML"] = str(path)                         # a server subprocess

`LIFECYCLE_DIAGNOSTIC` is what the lifecycle tests use: stalls and timeouts in 1-3 s.
"""

from __future__ import annotations

import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..config import default_path, load_config

# Healthy test jobs report progress about every second: a 4 s stall timeout outlasts the pauses of a
# loaded CI machine (at 1 s, pauses of ~1 s failed healthy jobs as stalled), the 6 s hard limit too.
LIFECYCLE_DIAGNOSTIC_FUNCTION = {"timeout": 6, "stall_timeout": 4.0, "retries": 2}
LIFECYCLE_DIAGNOSTIC_POOL = {"workers": 2, "queue": 2, "preload": True}


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def dump_toml(data: dict[str, Any], prefix: str = "") -> str:
    """Tables of scalars (nested tables become [a.b] sections): enough for modal.toml."""
    lines: list[str] = []
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    if prefix and scalars:
        lines.append(f"[{prefix}]")
    lines += [f"{k} = {_value(v)}" for k, v in scalars.items()]
    if lines:
        lines.append("")
    for k, v in tables.items():
        lines.append(dump_toml(v, f"{prefix}.{k}" if prefix else k))
    return "\n".join(lines)


def write_config(
    path: str | Path,
    *,
    functions: dict[str, dict[str, Any]] | None = None,
    inhouse: dict[str, dict[str, Any]] | None = None,
    base: str | Path | None = None,
) -> Path:
    """Copy `base` (default: the repo's modal.toml) with per-kind overrides; validated before returning."""
    data = tomllib.loads(Path(base or default_path()).read_text())
    for section, overrides in (("functions", functions or {}), ("inhouse", inhouse or {})):
        for kind, values in overrides.items():
            data.setdefault(section, {}).setdefault(kind, {}).update(values)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_toml(data))
    load_config(path)
    return path


def write_lifecycle_config(path: str | Path) -> Path:
    return write_config(
        path,
        functions={"diagnostic": dict(LIFECYCLE_DIAGNOSTIC_FUNCTION)},
        inhouse={"diagnostic": dict(LIFECYCLE_DIAGNOSTIC_POOL)},
    )


@dataclass
class BackendFactory:
    """How the lifecycle tests (tests/lifecycle) start and crash one kind of `JobBackend`."""

    name: str
    start: Callable[[Path, Path], Any]
    """(data_dir, modal_toml) -> a JobBackend serving at least the `diagnostic` kind."""
    crash: Callable[[Any], None]
    """Stop the backend the way a SIGKILL would: it must not write anything more."""
    marks: list[Any] = field(default_factory=list)
    """pytest marks for this backend's parameter (e.g. pytest.mark.slow)."""
    stop: Callable[[Any], None] = lambda backend: backend.close()


def eventually(check: Callable[[], object], timeout: float = 30.0, interval: float = 0.02):
    """Poll a condition until it is truthy or the deadline passes (a wait, never a sleep-as-sync)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def workers_where(backend: Any, kind: str, count: int, test: Callable[[dict], object] = lambda w: w["loaded"], timeout: float = 30.0) -> list[dict]:
    """Wait until exactly `count` live workers of `kind` pass `test` (default: warm); returns them."""

    def check():
        found = [w for w in backend.workers(kind) if test(w)]
        return found if len(found) == count else None

    return eventually(check, timeout)


def png_header(width: int, height: int) -> bytes:
    """A valid PNG that declares `width` x `height` but carries no pixels: a few hundred bytes
    standing in for a picture too big to decode (decompression bombs, over-limit images)."""
    import struct
    import zlib

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
