"""Which requests a sidecar process's output reaches, across a respawn (no Node needed).

Each process has its own stdout reader. When a process dies, its reader's end of output
must end that process's requests only: never the start of its successor, nor requests
already sent to the successor. A request tied to a process whose output has already
ended gets a fresh process instead of waiting out the silence timeout.
"""

from __future__ import annotations

import io
import json
import queue
import threading
from pathlib import Path

import pytest

from modal_functions.errors import CapabilityError
from modal_functions.render import sidecar as sidecar_mod
from modal_functions.render.sidecar import SIDECAR_CRASHED, Sidecar


class FakeProcess:
    """What the reader and `_register` use of a Popen: its stdout, wait() and poll()."""

    def __init__(self, *lines: dict):
        self.stdout = io.StringIO("".join(json.dumps(line) + "\n" for line in lines))
        self.waited = 0

    def wait(self, timeout=None):
        self.waited += 1
        return -9

    def poll(self):
        return -9


@pytest.fixture
def sc():
    sidecar = Sidecar(Path("no-bundle-needed"))
    yield sidecar
    sidecar.close()  # no process: removes its private serve and temp dirs


def _drain(q: queue.Queue) -> list:
    out = []
    while not q.empty():
        out.append(q.get_nowait())
    return out


def test_a_dead_processes_end_of_output_reaches_only_its_own_requests(sc):
    old = FakeProcess({"type": "progress", "id": "1", "frames": 3}, {"type": "error", "message": "no id: line did not parse"})
    new = FakeProcess()
    old_q, new_q = queue.Queue(), queue.Queue()
    sc._queues = {"1": (old_q, old), "2": (new_q, new)}
    old_ready, new_ready = queue.Queue(), queue.Queue()
    old_done = threading.Event()

    sc._read_stdout(old, old_ready, old_done)  # the old process's output, to its end

    got = _drain(old_q)
    assert [m if m is sidecar_mod._EOF else m["type"] for m in got] == ["progress", "error", sidecar_mod._EOF]
    assert _drain(new_q) == []  # the request sent to the successor hears nothing of it
    assert _drain(old_ready) == [sidecar_mod._EOF]
    assert _drain(new_ready) == []  # nor does the successor's start
    assert old_done.is_set()


def test_a_request_tied_to_a_process_whose_output_ended_gets_a_fresh_one(sc, monkeypatch):
    dead, fresh = FakeProcess(), FakeProcess()
    ended = threading.Event()
    ended.set()
    spawned: list[FakeProcess] = []

    def ensure():  # the first look finds the dead process still unreaped; then a respawn
        if not spawned:
            sc.proc, sc._reader_done = dead, ended
        else:
            sc.proc, sc._reader_done = fresh, threading.Event()
        spawned.append(sc.proc)

    monkeypatch.setattr(sc, "ensure", ensure)
    q: queue.Queue = queue.Queue()
    sc._register("7", q)

    assert spawned == [dead, fresh]
    assert dead.waited == 1  # reaped, so the next ensure() sees it dead
    assert sc._queues["7"] == (q, fresh)


def test_a_sidecar_that_keeps_dying_as_it_starts_is_a_retryable_crash(sc, monkeypatch):
    ended = threading.Event()
    ended.set()

    def ensure():
        sc.proc, sc._reader_done = FakeProcess(), ended

    monkeypatch.setattr(sc, "ensure", ensure)
    with pytest.raises(CapabilityError) as err:
        sc._register("8", queue.Queue())
    assert err.value.code == SIDECAR_CRASHED and err.value.retryable
    assert "8" not in sc._queues
