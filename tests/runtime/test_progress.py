"""Reporter throttling and the sinks (callback, dict-like/modal.Dict, pipe)."""

from __future__ import annotations

from modal_functions.contract.jobs import Progress
from modal_functions.runtime.progress import CallbackSink, MappingSink, PipeSink, Reporter, read_mapping
from modal_functions.runtime.watchdog import Watchdog


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_is_throttled_but_the_final_step_and_flush_always_go_out():
    clock = FakeClock()
    sent: list[Progress] = []
    reporter = Reporter(CallbackSink(sent.append), min_interval=1.0, clock=clock)
    reporter.progress(1, 10, "frames")
    reporter.progress(2)  # within the interval: held back
    assert [p.done for p in sent] == [1]
    reporter.flush()
    assert [p.done for p in sent] == [1, 2]
    assert sent[-1].total == 10 and sent[-1].unit == "frames"  # fields carry over
    reporter.progress(10)  # final: sent even within the interval
    assert [p.done for p in sent] == [1, 2, 10]


def test_heartbeats_are_throttled_and_carry_held_back_progress():
    clock = FakeClock()
    beats: list[int] = []
    sent: list[Progress] = []
    reporter = Reporter(CallbackSink(sent.append, lambda: beats.append(1)), min_interval=1.0, clock=clock)
    reporter.heartbeat()
    reporter.heartbeat()
    assert len(beats) == 1
    clock.now = 0.5
    reporter.progress(3, 9)  # held back
    clock.now = 1.5
    reporter.heartbeat()  # sends the held-back progress instead of a bare heartbeat
    assert len(beats) == 1 and [p.done for p in sent] == [3]


def test_every_call_beats_the_watchdog():
    clock = FakeClock()
    dog = Watchdog(stall_timeout=5, timeout=None, clock=clock)
    reporter = Reporter(CallbackSink(), watchdog=dog, min_interval=100, clock=clock)
    clock.now = 4
    reporter.heartbeat()  # throttled for the sink, never for the watchdog
    clock.now = 8
    reporter.progress(1)
    clock.now = 12
    assert dog.check() is None


def test_mapping_sink_round_trips_through_read_mapping():
    store: dict = {}
    sink = MappingSink(store, "job_1:progress", wall_clock=lambda: 1234.5)
    assert read_mapping(store, "job_1:progress") == (Progress(), None)
    sink.progress(Progress(done=2, total=4, unit="chunks", message="encoding"))
    sink.heartbeat()
    progress, beat = read_mapping(store, "job_1:progress")
    assert progress == Progress(done=2, total=4, unit="chunks", message="encoding")
    assert beat == 1234.5


def test_pipe_sink_sends_plain_tuples():
    sent: list[tuple] = []
    sink = PipeSink(sent.append)
    sink.heartbeat()
    sink.progress(Progress(done=1))
    assert sent[0] == ("hb",)
    assert sent[1][0] == "progress" and sent[1][1]["done"] == 1
