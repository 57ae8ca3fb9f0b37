"""# Watchdog: a job that goes silent past its stall timeout, or runs past its hard timeout, is stopped.

The same small class serves both places a job body runs:

- in-house, the pool's parent process keeps one `Watchdog` per running attempt and
  beats it on every heartbeat/progress message arriving over the worker's pipe;
- on Modal, `supervise()` runs the function body in a thread inside the container
  and beats the watchdog from the body's `TaskContext` (see `progress.Reporter`).

`check()` answers `None`, `"stalled"` or `"timeout"`; the caller decides what to kill.
The clock is injected, so tests drive time by hand and never wait.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable, Literal

from ..errors import STALLED, TIMEOUT, CapabilityError

Verdict = Literal["stalled", "timeout"]


class Watchdog:
    """Tracks the last sign of life of one attempt.

    `stall_timeout=None` disables stall detection; `timeout=None` disables the hard limit.
    """

    def __init__(self, *, stall_timeout: float | None, timeout: float | None, clock: Callable[[], float] = time.monotonic):
        self.stall_timeout = stall_timeout
        self.timeout = timeout
        self.clock = clock
        self.started_at = clock()
        self.last_beat = self.started_at
        self._lock = threading.Lock()

    def beat(self) -> None:
        now = self.clock()
        with self._lock:
            if now > self.last_beat:
                self.last_beat = now

    def silent_for(self) -> float:
        return self.clock() - self.last_beat

    def elapsed(self) -> float:
        return self.clock() - self.started_at

    def check(self) -> Verdict | None:
        now = self.clock()
        if self.timeout is not None and now - self.started_at > self.timeout:
            return "timeout"
        if self.stall_timeout is not None and now - self.last_beat > self.stall_timeout:
            return "stalled"
        return None

    def error(self, verdict: Verdict) -> CapabilityError:
        """The coded error for a verdict. Both are retryable: a fresh attempt (new key) may succeed."""
        if verdict == "timeout":
            return CapabilityError(TIMEOUT, f"job ran longer than its {self.timeout:g} s timeout", retryable=True, http_status=504)
        return CapabilityError(
            STALLED, f"no heartbeat or progress for more than {self.stall_timeout:g} s", retryable=True, http_status=504
        )


# ## Killing what a job started


def descendants(pid: int) -> list[int]:
    """Every live descendant of `pid`, from /proc (Linux), children before grandchildren."""
    out: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        task_dir = Path(f"/proc/{parent}/task")
        try:
            tids = os.listdir(task_dir)
        except OSError:
            continue
        for tid in tids:
            try:
                text = (task_dir / tid / "children").read_text()
            except OSError:
                continue
            for child in text.split():
                c = int(child)
                if c not in out:
                    out.append(c)
                    frontier.append(c)
    return out


def kill_process_group(pgid: int) -> None:
    """SIGKILL a whole process group; a group that is already gone is fine."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def kill_descendants(pid: int | None = None) -> int:
    """SIGKILL every descendant of `pid` (default: this process) and their process groups.

    Groups other than our own are killed whole (a child started with
    `start_new_session=True` takes its helpers with it); children in our own group are
    killed one by one, so the caller survives. Returns how many processes were signalled.
    """
    pid = os.getpid() if pid is None else pid
    own_group = os.getpgid(pid)
    victims = descendants(pid)
    _kill_with_groups(victims, own_group)
    return len(victims)


def _kill_with_groups(victims: list[int], own_group: int) -> None:
    """SIGKILL each victim, and its process group whole unless that group is `own_group`."""
    for victim in victims:
        try:
            group = os.getpgid(victim)
        except ProcessLookupError:
            continue
        if group != own_group:
            kill_process_group(group)
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass


# ## Finding what a dead worker left behind
#
# A worker that dies on its own (segfault, OOM kill) leaves its children orphaned: they
# are reparented to init, so walking /proc from the dead pid finds nothing, and
# `killpg` misses any that moved to a session of their own (Remotion launches chromium
# with `detached: true`). Each worker therefore gets a mark in its environment, which
# every descendant inherits (fork and exec keep it), and the parent kills every process
# carrying the mark: Jenkins' ProcessTreeKiller does the same with BUILD_ID. A helper
# exec'd with a scrubbed environment (`env -i`) escapes it.

MARK_VAR = "CANVASCAST_PROCESS_MARK"


def marked(mark: str) -> list[int]:
    """Pids of live processes (not this one) whose environment carries MARK_VAR=mark."""
    needle = b"\0" + f"{MARK_VAR}={mark}".encode() + b"\0"
    me = os.getpid()
    out: list[int] = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                environ = f.read()
        except OSError:  # gone, a kernel thread, or not ours
            continue
        if needle in b"\0" + environ:
            out.append(int(name))
    return out


def kill_marked(mark: str, rounds: int = 3) -> int:
    """SIGKILL every process carrying `mark`, and their groups unless the group is ours.

    Repeats while it still finds some (one may fork between the scan and the kill).
    Returns how many distinct processes were signalled.
    """
    own_group = os.getpgid(0)
    signalled: set[int] = set()
    for _ in range(rounds):
        victims = marked(mark)
        if not victims:
            break
        _kill_with_groups(victims, own_group)
        signalled.update(victims)  # a victim still dying is found again: count it once
    return len(signalled)


# ## Supervising a body in one process (a Modal container, a CLI run)


def supervise(
    body: Callable[[], Any],
    watchdog: Watchdog,
    *,
    poll_interval: float = 0.2,
    kill: Callable[[], Any] = kill_descendants,
    wait: Callable[[threading.Event, float], bool] | None = None,
) -> Any:
    """Run `body()` in a thread; return its value or re-raise its exception.

    When the watchdog says `stalled` or `timeout`, `kill()` is called (default: SIGKILL
    every child process group of this process) and the coded `CapabilityError` is raised.
    The body's thread cannot be killed: it is left as a daemon and its later result is
    discarded, so a container that saw this should stop taking inputs.
    """
    done = threading.Event()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = body()
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = e
        finally:
            done.set()

    thread = threading.Thread(target=target, name="supervised-body", daemon=True)
    thread.start()
    waiter = wait or (lambda event, timeout: event.wait(timeout))
    while not waiter(done, poll_interval):
        verdict = watchdog.check()
        if verdict is not None:
            kill()
            raise watchdog.error(verdict)
    if "error" in box:
        raise box["error"]
    return box.get("value")
