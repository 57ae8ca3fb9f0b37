"""Progress reported from two threads at once reaches the watcher in the order it was made.

A fan-out reports from the job's own thread (its piece) and from the worker's pipe reader
(the parts running elsewhere), and both go through the job's `Reporter`. Before, a value
computed first could be sent after a newer one that overtook it, so the job showed an older
count last (progress going backwards, until some later update). The older value is in
flight when the newer one is made: the sink below holds that send (before it counts it)
until the other thread's call has returned.
"""

from __future__ import annotations

import threading

from runtime_support import DEADLINE

from modal_functions.runtime.parts import PartsClient, fan_out
from modal_functions.runtime.progress import CallbackSink, MappingSink, Reporter


class HeldFirstSend:
    """Records what it gets; the first value `hold` (in flight) waits for `overtaken` before it is counted."""

    def __init__(self, hold: float):
        self.hold = hold
        self.got: list[float] = []
        self.in_flight = threading.Event()
        self.overtaken = threading.Event()
        self._held = False

    def __call__(self, value) -> None:
        done = getattr(value, "done", value)
        if done == self.hold and not self._held:
            self._held = True
            self.in_flight.set()
            assert self.overtaken.wait(DEADLINE)
        self.got.append(done)


def test_a_reporter_never_sends_an_older_progress_after_a_newer_one():
    sink = HeldFirstSend(hold=1)
    reporter = Reporter(CallbackSink(sink), min_interval=0.0)
    first = threading.Thread(target=reporter.progress, args=(1, 4))
    first.start()
    assert sink.in_flight.wait(DEADLINE)
    reporter.progress(2)  # made after 1, while 1 is still on its way
    sink.overtaken.set()
    first.join(DEADLINE)
    assert sink.got == sorted(sink.got) and sink.got[-1] == 2, sink.got


class Pool:
    """Answers a PartsClient's requests as the pool does over the pipe: one part, running elsewhere."""

    def __init__(self) -> None:
        self.client = PartsClient(self.send)

    def send(self, message: tuple) -> None:
        _, rid, op, arg = message
        value = {"submit": lambda: [f"part-{i + 1}" for i in range(len(arg))], "take": lambda: False, "idle": lambda: 1}[op]()
        self.client.deliver(("parts_reply", rid, value))


def test_fan_out_progress_from_the_job_and_its_parts_never_goes_backwards():
    pool, sink = Pool(), HeldFirstSend(hold=1)

    def update_from_elsewhere() -> None:  # the pipe reader: the part running on another worker
        assert sink.in_flight.wait(DEADLINE)  # the job's own report of its piece is on its way
        pool.client.deliver(("part_update", "part-1", {"state": "running", "done": 1}))
        sink.overtaken.set()
        pool.client.deliver(("part_update", "part-1", {"state": "succeeded", "done": 1, "result": {"piece": 1}}))

    reader = threading.Thread(target=update_from_elsewhere)

    def run_here(index, spec, report):
        reader.start()
        report(1)
        return {"piece": index}

    results = fan_out(pool.client, [{"i": 0}, {"i": 1}], run_here, on_progress=sink, every=0.01)
    reader.join(DEADLINE)
    assert results == [{"piece": 0}, {"piece": 1}]
    assert sink.got == sorted(sink.got) and sink.got[-1] == 2, sink.got


class SlowHeartbeatDict(dict):
    """A `modal.Dict` stand-in whose first write from the thread named "hb" is slow on the wire."""

    def __init__(self) -> None:
        super().__init__()
        self.hb_writing = threading.Event()
        self.release = threading.Event()

    def __setitem__(self, key, value) -> None:
        if threading.current_thread().name == "hb" and not self.hb_writing.is_set():
            self.hb_writing.set()
            assert self.release.wait(DEADLINE)
        super().__setitem__(key, value)


def test_a_slow_heartbeat_write_never_lands_an_older_progress_after_a_newer_one():
    d = SlowHeartbeatDict()
    reporter = Reporter(MappingSink(d, "job"), min_interval=0.0)
    reporter.progress(1, 4)
    hb = threading.Thread(target=reporter.heartbeat, name="hb")  # align's heartbeat side thread
    hb.start()
    assert d.hb_writing.wait(DEADLINE)  # its write of progress 1 is on the wire
    newer = threading.Thread(target=reporter.progress, args=(2, 4))
    newer.start()
    d.release.set()
    hb.join(DEADLINE)
    newer.join(DEADLINE)
    assert d["job"]["progress"]["done"] == 2
