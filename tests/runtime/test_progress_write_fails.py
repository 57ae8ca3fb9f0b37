"""A progress store that fails a write (a modal.Dict blip) does not end the job: the next write carries the state."""

from modal_functions.runtime.progress import MappingSink, Reporter, read_mapping


class FlakyMapping(dict):
    def __init__(self, failures: int):
        super().__init__()
        self.failures = failures

    def __setitem__(self, key, value):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("Dict unreachable")
        super().__setitem__(key, value)


def test_a_failed_progress_write_is_skipped_and_the_next_carries_the_state():
    mapping = FlakyMapping(failures=1)
    reporter = Reporter(MappingSink(mapping, "progress:j", wall_clock=lambda: 100.0), min_interval=0)
    reporter.progress(1, 4, "frames")  # this write fails: no exception reaches the capability
    assert "progress:j" not in mapping
    reporter.progress(2)
    progress, beat = read_mapping(mapping, "progress:j")
    assert (progress.done, progress.total, progress.unit, beat) == (2, 4, "frames", 100.0)


def test_a_failed_heartbeat_write_is_skipped():
    mapping = FlakyMapping(failures=1)
    sink = MappingSink(mapping, "progress:j", wall_clock=lambda: 5.0)
    sink.heartbeat()
    sink.heartbeat()
    assert read_mapping(mapping, "progress:j")[1] == 5.0


def test_an_outage_is_one_warning_not_one_per_write(caplog):
    import logging

    mapping = FlakyMapping(failures=50)
    sink = MappingSink(mapping, "progress:j", wall_clock=lambda: 1.0)
    with caplog.at_level(logging.INFO, logger="modal_functions.runtime.progress"):
        for _ in range(51):
            sink.heartbeat()
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["progress write failed; the next one carries it", "progress writes work again"]
