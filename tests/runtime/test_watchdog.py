"""Watchdog verdicts on an injected clock, and `supervise()` for single-process bodies (Modal containers)."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from runtime_support import eventually, gone

from modal_functions.errors import CapabilityError
from modal_functions.runtime.watchdog import Watchdog, descendants, kill_descendants, supervise


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_quiet_past_stall_timeout_is_stalled():
    clock = FakeClock()
    dog = Watchdog(stall_timeout=5, timeout=60, clock=clock)
    clock.now += 4.9
    assert dog.check() is None
    dog.beat()
    clock.now += 4.9
    assert dog.check() is None  # the beat reset the silence
    clock.now += 0.2
    assert dog.check() == "stalled"
    assert dog.silent_for() == pytest.approx(5.1)


def test_running_past_timeout_is_timeout_even_when_beating():
    clock = FakeClock()
    dog = Watchdog(stall_timeout=5, timeout=10, clock=clock)
    for _ in range(11):
        clock.now += 1
        dog.beat()
    assert dog.check() == "timeout"


def test_disabled_limits_never_fire():
    clock = FakeClock()
    dog = Watchdog(stall_timeout=None, timeout=None, clock=clock)
    clock.now += 10_000
    assert dog.check() is None


def test_errors_are_coded_and_retryable():
    dog = Watchdog(stall_timeout=5, timeout=10)
    for verdict in ("stalled", "timeout"):
        err = dog.error(verdict)
        assert err.code == verdict and err.retryable is True


def test_supervise_returns_the_body_value_and_reraises_its_error():
    dog = Watchdog(stall_timeout=5, timeout=60)
    assert supervise(lambda: 42, dog) == 42

    def boom():
        raise CapabilityError("no_image", "nothing came back")

    with pytest.raises(CapabilityError) as e:
        supervise(boom, dog)
    assert e.value.code == "no_image"


def test_supervise_kills_and_raises_stalled_on_an_injected_clock():
    clock = FakeClock()
    dog = Watchdog(stall_timeout=5, timeout=60, clock=clock)
    release = threading.Event()
    killed: list[bool] = []

    def tick(done: threading.Event, timeout: float) -> bool:
        clock.now += 1  # each poll advances fake time by one second; no real waiting
        return done.is_set()

    with pytest.raises(CapabilityError) as e:
        supervise(lambda: release.wait(30), dog, kill=lambda: killed.append(True), wait=tick)
    release.set()
    assert e.value.code == "stalled"
    assert killed == [True]


SPAWNER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
print(child.pid, flush=True)
time.sleep(60)
"""


def test_kill_descendants_takes_down_child_process_groups():
    # A stand-in for the supervised process: it started a helper in its own session.
    body = subprocess.Popen([sys.executable, "-c", SPAWNER], stdout=subprocess.PIPE, text=True)
    try:
        grandchild = int(body.stdout.readline())
        assert grandchild in descendants(body.pid)
        assert kill_descendants(body.pid) == 1
        eventually(lambda: gone(grandchild), timeout=10, interval=0.005)  # SIGKILL lands asynchronously
        assert body.poll() is None  # the supervised process itself is left alone
    finally:
        body.kill()
        body.wait()
